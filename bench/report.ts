// SPDX-License-Identifier: Apache-2.0
// Turns benchmark samples into medians, ratios against nginx, node-floor, h2-floor and direct from the same run, A/B
// comparisons (meshlet+log, meshlet-b), the targets with pass/fail, the memory table, and the printed tables.
// Pure: no I/O.

import type { PathName, Scenario } from './args.js';
import type { LoadResult } from './h2load.js';
import type { TreeMemory } from './memory.js';

export type { Scenario };

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
  /**
   * Memory of the proxy process tree read right after h2load ended: summed VmRSS then, and summed VmHWM (peak RSS
   * since each process started). Undefined on the direct path, or when the proxy had exited.
   */
  proxyMemory: TreeMemory | undefined;
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
  /** subject / reference, e.g. 1.12 for "1.12× nginx". NaN when a side was not measured. */
  ratio: number;
  limit: string;
  verdict: Verdict;
}

/** Proxy paths in the order they are shown (direct has no proxy). */
const PROXY_PATHS: readonly PathName[] = ['node-floor', 'h2-floor', 'meshlet', 'meshlet+log', 'meshlet-b', 'nginx'];

/** Median of the values that are not NaN; NaN when none are. Mean of the two middle values for an even count. */
export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function cpuPerCall(cpuUs: number, calls: number): number {
  return calls > 0 ? cpuUs / calls : NaN;
}

/** Proxy CPU µs per call of one sample; NaN on the direct path or without calls. */
export function proxyCpuPerCall(s: Sample): number {
  return s.proxyCpuUs === undefined ? NaN : cpuPerCall(s.proxyCpuUs, s.appCalls);
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
    return {
      scenario: first.scenario,
      path: first.path,
      runs: group.length,
      reqPerSec: median(group.map((s) => s.load.reqPerSec)),
      p50Us: median(group.map((s) => s.load.p50Us)),
      p99Us: median(group.map((s) => s.load.p99Us)),
      proxyCpuUsPerCall: first.proxyCpuUs === undefined ? undefined : median(group.map(proxyCpuPerCall)),
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
export function problemsOf(sample: Pick<Sample, 'load' | 'appCalls'>): number {
  const { done, succeeded } = sample.load;
  return done - succeeded + Math.max(0, succeeded - sample.appCalls);
}

/** One progress line per measurement, printed as the bench goes. */
export function formatSampleLine(sample: Sample, runs: number): string {
  const perCall = (us: number | undefined): string => (us === undefined ? '-' : fmt(cpuPerCall(us, sample.appCalls)));
  const { load } = sample;
  const problems = problemsOf(sample);
  return (
    `run ${sample.run}/${runs} ${sample.scenario.padEnd(10)} ${sample.path.padEnd(11)} ` +
    `${load.reqPerSec.toFixed(0).padStart(6)} req/s  p50 ${fmt(load.p50Us / 1000, 2)} ms  p99 ${fmt(load.p99Us / 1000, 2)} ms  ` +
    `proxy ${perCall(sample.proxyCpuUs)} µs/call  app ${perCall(sample.appCpuUs)} µs/call` +
    (sample.proxyMemory ? `  rss ${fmt(kibToMiB(sample.proxyMemory.rssKiB))} MiB` : '') +
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

/**
 * The three targets for `subject` (default meshlet) against nginx, from unary medians. Evaluated for
 * node-floor too: where the floor fails a target, no proxy-side code on node:http2 can pass it; and for h2-floor,
 * the same bound for a data plane on meshlet's own HTTP/2 engine.
 */
export function evaluateTargets(summaries: readonly Summary[], subject: PathName = 'meshlet'): TargetResult[] {
  const mRate = find(summaries, 'unary-rate', subject);
  const nRate = find(summaries, 'unary-rate', 'nginx');
  const mPeak = find(summaries, 'unary-peak', subject);
  const nPeak = find(summaries, 'unary-peak', 'nginx');
  return [
    target('(proxy + app) CPU/call vs nginx + app', ratio(mRate?.totalCpuUsPerCall, nRate?.totalCpuUsPerCall), 1, true),
    target('proxy CPU/call vs nginx', ratio(mRate?.proxyCpuUsPerCall, nRate?.proxyCpuUsPerCall), 1.5, true),
    target('peak req/s vs nginx', ratio(mPeak?.reqPerSec, nPeak?.reqPerSec), 0.9, false),
  ];
}

/** One note per target that node-floor itself fails: the target is out of reach of proxy code on node:http2. */
export function floorNotes(summaries: readonly Summary[]): string[] {
  return evaluateTargets(summaries, 'node-floor')
    .filter((t) => t.verdict === 'FAIL')
    .map(
      (t) =>
        `note: node-floor itself misses "${t.name}" (${t.ratio.toFixed(2)}×, limit ${t.limit}): ` +
        'not reachable on node:http2 by proxy-side code alone.',
    );
}

/** a / b, or NaN when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): number {
  return a === undefined || b === undefined || b === 0 ? NaN : a / b;
}

/** Per-run values of `metric(a) op metric(b)` for runs where both paths have a sample of `scenario`. */
export function perRun(
  samples: readonly Sample[],
  scenario: Scenario,
  a: PathName,
  b: PathName,
  metric: (s: Sample) => number,
  op: (x: number, y: number) => number,
): number[] {
  const out: number[] = [];
  for (const sa of samples) {
    if (sa.scenario !== scenario || sa.path !== a) continue;
    const sb = samples.find((s) => s.scenario === scenario && s.path === b && s.run === sa.run);
    if (sb !== undefined) out.push(op(metric(sa), metric(sb)));
  }
  return out;
}

const divide = (x: number, y: number): number => ratio(x, y);
const subtract = (x: number, y: number): number => x - y;
const reqPerSec = (s: Sample): number => s.load.reqPerSec;

/** A number with `digits` decimals, or '-' when missing or NaN. */
export function fmt(n: number | undefined, digits = 1): string {
  return n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits);
}

/** A text table: first column left-aligned, the others right-aligned, a dashed rule under the header. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
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

/** "0.93× (0.91 0.95 0.93)": the median of per-run values and the values themselves, to judge the noise. */
function pairedText(values: readonly number[], unit: string, digits: number): string {
  if (values.length === 0) return '-';
  const m = median(values);
  return `${m >= 0 && unit === ' µs' ? '+' : ''}${fmt(m, digits)}${unit} (runs: ${values.map((v) => fmt(v, digits)).join(' ')})`;
}

/**
 * A/B lines from per-run pairs of the same run: meshlet+log against meshlet, and meshlet-b against `bReference`
 * (meshlet, or meshlet+log when meshlet-b runs with its access log on).
 */
export function formatComparisons(samples: readonly Sample[], bReference: PathName = 'meshlet'): string[] {
  const out: string[] = [];
  const scenarios = [...new Set(samples.map((s) => s.scenario))];
  const has = (p: PathName): boolean => samples.some((s) => s.path === p);
  if (has('meshlet+log') && has('meshlet')) {
    out.push('Access log cost (meshlet+log against meshlet, median of per-run pairs)');
    for (const sc of scenarios) {
      const cpu = perRun(samples, sc, 'meshlet+log', 'meshlet', proxyCpuPerCall, subtract);
      const rps = perRun(samples, sc, 'meshlet+log', 'meshlet', reqPerSec, divide);
      if (cpu.length > 0) out.push(`  ${sc.padEnd(10)}  proxy CPU/call ${pairedText(cpu, ' µs', 1)};  req/s ${pairedText(rps, '×', 2)}`);
    }
    out.push('');
  }
  if (has('meshlet-b') && has(bReference)) {
    out.push(`A/B: meshlet-b against ${bReference} (median of per-run ratios; < 1 CPU or > 1 req/s means B is better)`);
    for (const sc of scenarios) {
      const cpu = perRun(samples, sc, 'meshlet-b', bReference, proxyCpuPerCall, divide);
      const rps = perRun(samples, sc, 'meshlet-b', bReference, reqPerSec, divide);
      if (cpu.length > 0) out.push(`  ${sc.padEnd(10)}  proxy CPU/call ${pairedText(cpu, '×', 3)};  req/s ${pairedText(rps, '×', 3)}`);
    }
    out.push('');
  }
  return out;
}

/**
 * The printed report: one table per scenario with absolute medians; ratios against nginx, node-floor, h2-floor
 * (proxy CPU only) and direct; large-message ratios; A/B comparisons (when `samples` are given); the targets, for
 * meshlet with node-floor's and h2-floor's ratios beside it, and node-floor's notes.
 */
export function formatReport(
  summaries: readonly Summary[],
  describe: Record<Scenario, string>,
  samples: readonly Sample[] = [],
  bReference: PathName = 'meshlet',
): string {
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

  const nRate = find(summaries, 'unary-rate', 'nginx');
  const nPeak = find(summaries, 'unary-peak', 'nginx');
  const fRate = find(summaries, 'unary-rate', 'node-floor');
  const fPeak = find(summaries, 'unary-peak', 'node-floor');
  const hRate = find(summaries, 'unary-rate', 'h2-floor');
  const dRate = find(summaries, 'unary-rate', 'direct');
  const dPeak = find(summaries, 'unary-peak', 'direct');
  const rows: string[][] = [];
  for (const path of PROXY_PATHS) {
    const rate = find(summaries, 'unary-rate', path);
    const peak = find(summaries, 'unary-peak', path);
    if (!rate && !peak) continue;
    rows.push([
      path,
      fmt(ratio(rate?.proxyCpuUsPerCall, nRate?.proxyCpuUsPerCall), 2),
      fmt(ratio(rate?.proxyCpuUsPerCall, fRate?.proxyCpuUsPerCall), 2),
      fmt(ratio(rate?.proxyCpuUsPerCall, hRate?.proxyCpuUsPerCall), 2),
      fmt(ratio(rate?.totalCpuUsPerCall, nRate?.totalCpuUsPerCall), 2),
      fmt(ratio(peak?.reqPerSec, nPeak?.reqPerSec), 2),
      fmt(ratio(peak?.reqPerSec, fPeak?.reqPerSec), 2),
      fmt(ratio(peak?.reqPerSec, dPeak?.reqPerSec), 2),
      fmt(rate && dRate ? (rate.p50Us - dRate.p50Us) / 1000 : undefined, 2),
      fmt(rate && dRate ? (rate.p99Us - dRate.p99Us) / 1000 : undefined, 2),
    ]);
  }
  if (rows.length > 0 && (nRate || nPeak || fRate || fPeak || hRate || dRate || dPeak)) {
    out.push('Ratios (same run; latency added = fixed-rate latency minus direct)');
    out.push(
      table(
        [
          'path',
          'proxy CPU ×nginx',
          'proxy CPU ×floor',
          'proxy CPU ×h2-floor',
          '(proxy+app) ×(nginx+app)',
          'peak ×nginx',
          'peak ×floor',
          'peak ×direct',
          '+p50 ms',
          '+p99 ms',
        ],
        rows,
      ),
      '',
    );
  }

  const nLarge = find(summaries, 'large-peak', 'nginx');
  const fLarge = find(summaries, 'large-peak', 'node-floor');
  const hLarge = find(summaries, 'large-peak', 'h2-floor');
  const largeRows = PROXY_PATHS.flatMap((path) => {
    const l = find(summaries, 'large-peak', path);
    if (!l) return [];
    return [[
      path,
      fmt(ratio(l.proxyCpuUsPerCall, nLarge?.proxyCpuUsPerCall), 2),
      fmt(ratio(l.proxyCpuUsPerCall, fLarge?.proxyCpuUsPerCall), 2),
      fmt(ratio(l.proxyCpuUsPerCall, hLarge?.proxyCpuUsPerCall), 2),
      fmt(ratio(l.reqPerSec, nLarge?.reqPerSec), 2),
      fmt(ratio(l.reqPerSec, fLarge?.reqPerSec), 2),
    ]];
  });
  if (largeRows.length > 1 && (nLarge || fLarge || hLarge)) {
    out.push('Large-message ratios (same run)');
    out.push(table(['path', 'proxy CPU ×nginx', 'proxy CPU ×floor', 'proxy CPU ×h2-floor', 'req/s ×nginx', 'req/s ×floor'], largeRows), '');
  }

  out.push(...formatComparisons(samples, bReference));

  const mine = evaluateTargets(summaries);
  const floor = evaluateTargets(summaries, 'node-floor');
  const h2Floor = evaluateTargets(summaries, 'h2-floor');
  out.push("Targets (issue #2): meshlet against nginx; node-floor and h2-floor show what node:http2 and meshlet's own engine allow");
  out.push(
    table(
      ['target', 'meshlet', 'node-floor', 'h2-floor', 'limit', 'result'],
      mine.map((t, i) => [t.name, ratioText(t.ratio), ratioText(floor[i]?.ratio ?? NaN), ratioText(h2Floor[i]?.ratio ?? NaN), t.limit, t.verdict]),
    ),
  );
  out.push(...floorNotes(summaries));
  return out.join('\n');
}

function ratioText(r: number): string {
  return Number.isNaN(r) ? '-' : `${r.toFixed(2)}×`;
}

/** KiB → MiB (1024 KiB). */
export function kibToMiB(kib: number): number {
  return kib / 1024;
}

/** Memory of one proxy path's process tree over the bench, in MiB (1 MiB = 1024 KiB). NaN where not measured. */
export interface MemorySummary {
  path: PathName;
  /** Processes in the tree when idle (or at the first sample): 1 for the Node.js proxies, 2 for nginx. */
  processes: number;
  /** Summed VmRSS right after the proxy passed its readiness call, before warm-up and any load. */
  idleMiB: number;
  /** Per scenario: median over runs of the summed VmRSS read right after h2load ended. */
  afterMiB: Record<Scenario, number>;
  /**
   * Largest summed VmHWM seen over the whole bench (VmHWM only grows, so this is the value after the last run):
   * "peak RSS so far", an upper bound of the tree's peak since per-process peaks may not coincide.
   */
  peakSoFarMiB: number;
}

/**
 * One memory summary per proxy path (in the report's path order) that has an idle reading or a sample with memory.
 * `idle` maps a path to its tree memory right after readiness (undefined when it could not be read).
 */
export function summariseMemory(
  samples: readonly Sample[],
  idle: ReadonlyMap<PathName, TreeMemory | undefined>,
): MemorySummary[] {
  const out: MemorySummary[] = [];
  for (const path of PROXY_PATHS) {
    const measured = samples.filter((s) => s.path === path && s.proxyMemory !== undefined);
    const idleMemory = idle.get(path);
    if (measured.length === 0 && idleMemory === undefined) continue;
    const afterMiB = (scenario: Scenario): number =>
      median(measured.filter((s) => s.scenario === scenario).map((s) => kibToMiB((s.proxyMemory as TreeMemory).rssKiB)));
    const peaks = measured.map((s) => kibToMiB((s.proxyMemory as TreeMemory).hwmKiB));
    out.push({
      path,
      processes: idleMemory?.processes ?? measured[0]?.proxyMemory?.processes ?? 0,
      idleMiB: idleMemory ? kibToMiB(idleMemory.rssKiB) : NaN,
      afterMiB: { 'unary-rate': afterMiB('unary-rate'), 'unary-peak': afterMiB('unary-peak'), 'large-peak': afterMiB('large-peak') },
      peakSoFarMiB: peaks.length > 0 ? Math.max(...peaks) : NaN,
    });
  }
  return out;
}

/** The memory table and its caveats; no lines when nothing was measured. `runs` is only shown in the title. */
export function formatMemoryTable(memory: readonly MemorySummary[], runs: number): string[] {
  if (memory.length === 0) return [];
  return [
    `Memory of the proxy process tree (MiB, VmRSS summed over the tree; after = right after h2load ended, median of ${runs})`,
    table(
      ['path', 'procs', 'idle', 'after unary-rate', 'after unary-peak', 'after large-peak', 'peak so far'],
      memory.map((m) => [
        m.path,
        String(m.processes),
        fmt(m.idleMiB),
        fmt(m.afterMiB['unary-rate']),
        fmt(m.afterMiB['unary-peak']),
        fmt(m.afterMiB['large-peak']),
        fmt(m.peakSoFarMiB),
      ]),
    ),
    'note: a Node.js process\'s RSS includes V8 heap reservations it has committed (semi-spaces, free heap pages) and node\'s own code, not only live objects.',
    'note: peak so far = VmHWM summed over the tree (per-process high-water mark since start); nginx sums master + worker, counting shared pages twice.',
  ];
}
