// SPDX-License-Identifier: Apache-2.0
// Turns benchmark samples into medians, ratios against nginx and direct from the same run, the targets
// with pass/fail, and the printed tables. Pure: no I/O.

import type { PathName } from './args.js';
import type { LoadResult } from './h2load.js';

/** unary-rate: fixed offered load (CPU per call); unary-peak: unlimited (req/s); large-peak: big messages. */
export type Scenario = 'unary-rate' | 'unary-peak' | 'large-peak';

/** One h2load run against one path, with the CPU the processes on that path burnt during it. */
export interface Sample {
  scenario: Scenario;
  path: PathName;
  run: number;
  load: LoadResult;
  /** Calls the upstream app completed during the run: the denominator of CPU per call. */
  appCalls: number;
  /** CPU (µs) of the proxy process tree during the run; undefined on the direct path. */
  proxyCpuUs: number | undefined;
  /** CPU (µs) of the upstream app during the run. */
  appCpuUs: number;
}

/** Medians over runs of one (scenario, path). CPU values are µs per call, latencies µs. */
export interface Summary {
  scenario: Scenario;
  path: PathName;
  runs: number;
  reqPerSec: number;
  p50Us: number;
  p99Us: number;
  proxyCpuUsPerCall: number | undefined;
  appCpuUsPerCall: number;
  totalCpuUsPerCall: number;
  /** Sum over runs: requests h2load did not see succeed, plus calls that never reached the app. */
  problems: number;
}

export type Verdict = 'PASS' | 'FAIL' | 'n/a';

/** One target from the issue, evaluated on medians of the same run. */
export interface TargetResult {
  name: string;
  /** meshlet / reference, e.g. 1.12 for "1.12× nginx". NaN when a side was not measured. */
  ratio: number;
  limit: string;
  verdict: Verdict;
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function cpuPerCall(cpuUs: number, calls: number): number {
  return calls > 0 ? cpuUs / calls : NaN;
}

/** Medians per (scenario, path), in the order the samples first appear. */
export function summarise(samples: readonly Sample[]): Summary[] {
  const groups = new Map<string, Sample[]>();
  for (const s of samples) {
    const key = `${s.scenario}/${s.path}`;
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  return [...groups.values()].map((group) => {
    const first = group[0] as Sample;
    const proxy = group.map((s) => (s.proxyCpuUs === undefined ? NaN : cpuPerCall(s.proxyCpuUs, s.appCalls)));
    return {
      scenario: first.scenario,
      path: first.path,
      runs: group.length,
      reqPerSec: median(group.map((s) => s.load.reqPerSec)),
      p50Us: median(group.map((s) => s.load.p50Us)),
      p99Us: median(group.map((s) => s.load.p99Us)),
      proxyCpuUsPerCall: first.proxyCpuUs === undefined ? undefined : median(proxy),
      appCpuUsPerCall: median(group.map((s) => cpuPerCall(s.appCpuUs, s.appCalls))),
      totalCpuUsPerCall: median(group.map((s) => cpuPerCall((s.proxyCpuUs ?? 0) + s.appCpuUs, s.appCalls))),
      problems: group.reduce((n, s) => n + problemsOf(s), 0),
    };
  });
}

/**
 * Requests that did not succeed, plus calls h2load counted as done that the app never completed. h2load only
 * checks the HTTP status, so a proxy answering HTTP 200 with a grpc-status error shows up only in the second term.
 */
export function problemsOf(sample: Sample): number {
  const { done, succeeded } = sample.load;
  return done - succeeded + Math.max(0, succeeded - sample.appCalls);
}

/** One progress line per measurement, printed as the bench goes. */
export function formatSampleLine(sample: Sample, runs: number): string {
  const perCall = (us: number | undefined): string => (us === undefined ? '-' : fmt(cpuPerCall(us, sample.appCalls)));
  const { load } = sample;
  const problems = problemsOf(sample);
  return (
    `run ${sample.run}/${runs} ${sample.scenario.padEnd(10)} ${sample.path.padEnd(7)} ` +
    `${load.reqPerSec.toFixed(0).padStart(6)} req/s  p50 ${fmt(load.p50Us / 1000, 2)} ms  p99 ${fmt(load.p99Us / 1000, 2)} ms  ` +
    `proxy ${perCall(sample.proxyCpuUs)} µs/call  app ${perCall(sample.appCpuUs)} µs/call` +
    (problems > 0 ? `  WARNING: ${load.done} done, ${load.succeeded} ok, ${sample.appCalls} reached the app` : '')
  );
}

function find(summaries: readonly Summary[], scenario: Scenario, path: PathName): Summary | undefined {
  return summaries.find((s) => s.scenario === scenario && s.path === path);
}

function target(name: string, ratio: number, limit: number, atMost: boolean): TargetResult {
  const verdict: Verdict = Number.isNaN(ratio) ? 'n/a' : (atMost ? ratio <= limit : ratio >= limit) ? 'PASS' : 'FAIL';
  return { name, ratio, limit: `${atMost ? '≤' : '≥'} ${limit.toFixed(2)}×`, verdict };
}

/** The three targets for meshlet against nginx, from unary medians. */
export function evaluateTargets(summaries: readonly Summary[]): TargetResult[] {
  const mRate = find(summaries, 'unary-rate', 'meshlet');
  const nRate = find(summaries, 'unary-rate', 'nginx');
  const mPeak = find(summaries, 'unary-peak', 'meshlet');
  const nPeak = find(summaries, 'unary-peak', 'nginx');
  return [
    target('(proxy + app) CPU/call vs nginx + app', ratio(mRate?.totalCpuUsPerCall, nRate?.totalCpuUsPerCall), 1, true),
    target('proxy CPU/call vs nginx', ratio(mRate?.proxyCpuUsPerCall, nRate?.proxyCpuUsPerCall), 1.5, true),
    target('peak req/s vs nginx', ratio(mPeak?.reqPerSec, nPeak?.reqPerSec), 0.9, false),
  ];
}

function ratio(a: number | undefined, b: number | undefined): number {
  return a === undefined || b === undefined || b === 0 ? NaN : a / b;
}

function fmt(n: number | undefined, digits = 1): string {
  return n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits);
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const TITLES: Record<Scenario, string> = {
  'unary-rate': 'Unary, fixed rate (CPU per call)',
  'unary-peak': 'Unary, unlimited (peak req/s)',
  'large-peak': 'Large messages, unlimited (informational)',
};

/** The printed tables: one per scenario with absolute medians, then ratios, latency added and the targets. */
export function formatReport(summaries: readonly Summary[], describe: Record<Scenario, string>): string {
  const out: string[] = [];
  for (const scenario of Object.keys(TITLES) as Scenario[]) {
    const rows = summaries.filter((s) => s.scenario === scenario);
    if (rows.length === 0) continue;
    out.push(`${TITLES[scenario]}: ${describe[scenario]}, median of ${rows[0]?.runs ?? 0}`);
    out.push(
      table(
        ['path', 'req/s', 'p50 ms', 'p99 ms', 'proxy µs/call', 'app µs/call', 'proxy+app µs/call', 'problems'],
        rows.map((s) => [
          s.path,
          fmt(s.reqPerSec, 0),
          fmt(s.p50Us / 1000, 2),
          fmt(s.p99Us / 1000, 2),
          fmt(s.proxyCpuUsPerCall),
          fmt(s.appCpuUsPerCall),
          fmt(s.totalCpuUsPerCall),
          String(s.problems),
        ]),
      ),
      '',
    );
  }

  const rows: string[][] = [];
  for (const path of ['meshlet', 'nginx'] as const) {
    const rate = find(summaries, 'unary-rate', path);
    const peak = find(summaries, 'unary-peak', path);
    const nRate = find(summaries, 'unary-rate', 'nginx');
    const nPeak = find(summaries, 'unary-peak', 'nginx');
    const dRate = find(summaries, 'unary-rate', 'direct');
    const dPeak = find(summaries, 'unary-peak', 'direct');
    if ((!rate && !peak) || (!nRate && !nPeak && !dRate && !dPeak)) continue;
    rows.push([
      path,
      fmt(ratio(rate?.proxyCpuUsPerCall, nRate?.proxyCpuUsPerCall), 2),
      fmt(ratio(rate?.totalCpuUsPerCall, nRate?.totalCpuUsPerCall), 2),
      fmt(ratio(peak?.reqPerSec, nPeak?.reqPerSec), 2),
      fmt(ratio(peak?.reqPerSec, dPeak?.reqPerSec), 2),
      fmt(rate && dRate ? (rate.p50Us - dRate.p50Us) / 1000 : undefined, 2),
      fmt(rate && dRate ? (rate.p99Us - dRate.p99Us) / 1000 : undefined, 2),
    ]);
  }
  if (rows.length > 0) {
    out.push('Ratios (same run; latency added = fixed-rate latency minus direct)');
    out.push(
      table(
        ['path', 'proxy CPU ×nginx', '(proxy+app) ×(nginx+app)', 'peak ×nginx', 'peak ×direct', '+p50 ms', '+p99 ms'],
        rows,
      ),
      '',
    );
  }

  out.push('Targets (issue #2): meshlet against nginx');
  out.push(
    table(
      ['target', 'measured', 'limit', 'result'],
      evaluateTargets(summaries).map((t) => [t.name, Number.isNaN(t.ratio) ? '-' : `${t.ratio.toFixed(2)}×`, t.limit, t.verdict]),
    ),
  );
  return out.join('\n');
}
