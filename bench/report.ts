// SPDX-License-Identifier: Apache-2.0
// Turns benchmark samples into medians, ratios against nginx, node-floor, h2-floor and direct from the same run, A/B
// comparisons (meshlet+log, meshlet-b), issue #2's and issue #14's targets with pass/fail, the memory table (peak RSS
// sampled through each run, heap after GC), and the printed tables.
// Pure: no I/O.

import type { PathName, Scenario } from './args.js';
import type { HeapUsage } from './heap-probe.js';
import type { LoadResult } from './h2load.js';
import type { RssTrace, TreeMemory } from './memory.js';

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
  /** The proxy tree's summed VmRSS sampled through the h2load run (bench/memory.ts startRssSampler). */
  rssTrace?: RssTrace | undefined;
  /** The proxy tree's memory before its warm-up, when the measurement ran on a fresh process. */
  idleMemory?: TreeMemory | undefined;
  /** The node proxy's heap after a full GC, read right after the run through the inspector. */
  heap?: HeapUsage | undefined;
  /** The same read just before that GC: the heap V8 had committed as the run left it. */
  heapBeforeGc?: HeapUsage | undefined;
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

/**
 * PASS or FAIL against a target; n/a when not measured; NOISY when the measurement cannot decide (the mTLS suite's
 * added p99 when direct's own tail moved more than what is measured: bench/mtls-report.ts tailNoise).
 */
export type Verdict = 'PASS' | 'FAIL' | 'n/a' | 'NOISY';

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
    (sample.rssTrace && sample.rssTrace.samples > 0 ? ` (peak ${fmt(kibToMiB(sample.rssTrace.peakKiB))})` : '') +
    (sample.heap ? `  heap after GC ${fmt(sample.heap.heapUsed / MIB)} MiB` : '') +
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
 * The issue's three targets for `subject` (default meshlet) against nginx, from unary medians. Evaluated for
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

/** A text table: the first `leftColumns` (default 1) columns left-aligned, the others right-aligned, a dashed rule under the header. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], leftColumns = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const TITLES: Record<Scenario, string> = {
  'unary-low': 'Unary, fixed low rate (memory at a typical load)',
  'unary-rate': 'Unary, fixed rate (CPU per call)',
  'unary-spread': 'Unary, fixed rate, calls spread out (one h2load per connection)',
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

const MIB = 1024 * 1024;

/** Memory of one proxy path in one scenario, medians over runs, in MiB (NaN where not measured). */
export interface ScenarioMemory {
  /** Largest summed VmRSS sampled through the run. */
  peakMiB: number;
  /** Summed VmRSS right after h2load ended. */
  afterMiB: number;
  /** V8 heapUsed after a full GC, right after the run (node proxies only). */
  heapMiB: number;
  /** `external` (Buffers, sockets) after that GC. */
  externalMiB: number;
  /** V8 heapTotal (committed) as the run left it, before that GC. */
  heapTotalBeforeMiB: number;
  /** The process's RSS after that GC (node proxies only; the tree's RSS otherwise is `afterMiB`). */
  rssAfterGcMiB: number;
}

/** Memory of one proxy path's process tree over the bench, in MiB (1 MiB = 1024 KiB). NaN where not measured. */
export interface MemorySummary {
  path: PathName;
  /** Processes in the tree when idle (or at the first sample): 1 for the Node.js proxies, 2 for nginx. */
  processes: number;
  /** Median summed VmRSS of the path's processes right after their readiness call, before any warm-up or load. */
  idleMiB: number;
  /**
   * Summed VmRSS of the same idle processes once they have settled (the run's `idleSettleSeconds` after the first
   * reading; V8's memory reducer shrinks a node process's heap about 8 s after start-up): what an idle sidecar shows
   * for as long as it stays idle. NaN when not read (--quick).
   */
  idleSettledMiB: number;
  /** Median heapUsed after a full GC of an idle process (node proxies only). */
  idleHeapMiB: number;
  /** Per measured scenario. */
  scenarios: Partial<Record<Scenario, ScenarioMemory>>;
  /**
   * The highest RSS seen over the whole bench: the largest sampled peak or summed VmHWM (each process's high-water
   * mark since start, which catches spikes between samples). An upper bound of the tree's peak, since per-process
   * peaks may not coincide.
   */
  maxMiB: number;
}

/** What the bench read of a path's processes at idle: tree memory (undefined when unreadable) and heap after GC. */
export interface IdleReading {
  path: PathName;
  memory: TreeMemory | undefined;
  /** The same processes, still idle, read again once settled (see {@link MemorySummary.idleSettledMiB}). */
  settled?: TreeMemory | undefined;
  heap?: HeapUsage | undefined;
}

/**
 * One memory summary per proxy path (in the report's path order) with an idle reading or a sample with memory.
 * Idle RSS is the median over `idle` and the samples' own idle readings (fresh processes have one each).
 */
export function summariseMemory(samples: readonly Sample[], idle: readonly IdleReading[]): MemorySummary[] {
  const out: MemorySummary[] = [];
  for (const path of PROXY_PATHS) {
    const mine = samples.filter((s) => s.path === path);
    const measured = mine.filter((s) => s.proxyMemory !== undefined || (s.rssTrace?.samples ?? 0) > 0);
    const idleHere = idle.filter((r) => r.path === path);
    const idleMemories = [...idleHere.map((r) => r.memory), ...mine.map((s) => s.idleMemory)].filter(
      (m): m is TreeMemory => m !== undefined,
    );
    if (measured.length === 0 && idleMemories.length === 0) continue;
    const scenarios: Partial<Record<Scenario, ScenarioMemory>> = {};
    for (const scenario of Object.keys(TITLES) as Scenario[]) {
      const group = mine.filter((s) => s.scenario === scenario);
      if (group.length === 0) continue;
      scenarios[scenario] = {
        peakMiB: median(group.map((s) => (s.rssTrace && s.rssTrace.samples > 0 ? kibToMiB(s.rssTrace.peakKiB) : NaN))),
        afterMiB: median(group.map((s) => (s.proxyMemory ? kibToMiB(s.proxyMemory.rssKiB) : NaN))),
        heapMiB: median(group.map((s) => (s.heap ? s.heap.heapUsed / MIB : NaN))),
        externalMiB: median(group.map((s) => (s.heap ? s.heap.external / MIB : NaN))),
        heapTotalBeforeMiB: median(group.map((s) => (s.heapBeforeGc ? s.heapBeforeGc.heapTotal / MIB : NaN))),
        rssAfterGcMiB: median(group.map((s) => (s.heap ? s.heap.rss / MIB : NaN))),
      };
    }
    const highs = [
      ...measured.map((s) => (s.proxyMemory ? kibToMiB(s.proxyMemory.hwmKiB) : NaN)),
      ...measured.map((s) => (s.rssTrace && s.rssTrace.samples > 0 ? kibToMiB(s.rssTrace.peakKiB) : NaN)),
      ...idleMemories.map((m) => kibToMiB(m.hwmKiB)),
    ].filter((v) => !Number.isNaN(v));
    const idleHeaps = idleHere.flatMap((r) => (r.heap ? [r.heap.heapUsed / MIB] : []));
    out.push({
      path,
      processes: idleMemories[0]?.processes ?? measured[0]?.proxyMemory?.processes ?? 0,
      idleMiB: median(idleMemories.map((m) => kibToMiB(m.rssKiB))),
      idleSettledMiB: median(idleHere.flatMap((r) => (r.settled ? [kibToMiB(r.settled.rssKiB)] : []))),
      idleHeapMiB: median(idleHeaps),
      scenarios,
      maxMiB: highs.length > 0 ? Math.max(...highs) : NaN,
    });
  }
  return out;
}

/** The memory table and its caveats; no lines when nothing was measured. `runs` is only shown in the title. */
export function formatMemoryTable(memory: readonly MemorySummary[], runs: number): string[] {
  if (memory.length === 0) return [];
  const rows: string[][] = [];
  for (const m of memory) {
    rows.push([m.path, 'idle', String(m.processes), fmt(m.idleMiB), '-', '-', '-', fmt(m.idleHeapMiB), '-']);
    if (!Number.isNaN(m.idleSettledMiB)) rows.push([m.path, 'idle, settled', String(m.processes), fmt(m.idleSettledMiB), '-', '-', '-', '-', '-']);
    for (const [scenario, s] of Object.entries(m.scenarios) as Array<[Scenario, ScenarioMemory]>) {
      rows.push([
        m.path,
        scenario,
        '',
        fmt(s.peakMiB),
        fmt(s.afterMiB),
        fmt(s.heapTotalBeforeMiB),
        fmt(s.rssAfterGcMiB),
        fmt(s.heapMiB),
        fmt(s.externalMiB),
      ]);
    }
  }
  return [
    `Memory of the proxy process tree (MiB, median of ${runs}; RSS = VmRSS summed over the tree, sampled every 100 ms through each run;`,
    'then, read through the inspector: the V8 heap committed as the run left it, a full GC, RSS, live heap and external after it)',
    table(
      ['path', 'scenario', 'procs', 'rss peak', 'rss after', 'heap committed', 'rss after GC', 'heap after GC', 'external after GC'],
      rows,
      2,
    ),
    `highest RSS over the bench (largest sampled peak or summed VmHWM): ${memory.map((m) => `${m.path} ${fmt(m.maxMiB)}`).join(', ')}`,
    'note: a Node.js process\'s RSS includes V8 heap reservations it has committed (semi-spaces, free heap pages) and node\'s own code, not only live objects.',
    'note: nginx sums master + worker, counting shared pages twice; a peak shorter than 100 ms is caught only by VmHWM.',
  ];
}

/** One figure of issue #14's table: the value per path, subject ÷ nginx, and the verdict against the target. */
export interface FigureRow {
  figure: string;
  /** Value per path in the figure's unit; NaN or absent where not measured (direct has no proxy CPU or RSS). */
  values: Partial<Record<PathName, number>>;
  /** subject ÷ nginx (informational for the absolute memory limits). */
  ratio: number;
  limit: string;
  verdict: Verdict;
  /** Decimals to print the values with. */
  digits: number;
}

function verdictOf(value: number, limit: number, atMost: boolean): Verdict {
  if (Number.isNaN(value)) return 'n/a';
  return (atMost ? value <= limit : value >= limit) ? 'PASS' : 'FAIL';
}

/**
 * Issue #14's targets for `subject` (default meshlet) against nginx in the same run, with h2-floor and direct beside
 * them: 64 KiB unary peak req/s ≥ 1.0× nginx; its proxy CPU per call ≤ 1.5× nginx; at the fixed rate, p99 ≤ nginx's
 * and proxy CPU per call ≤ 1.0× nginx; RSS idle ≤ 55 MiB (at start and settled), peak ≤ 64 MiB at the low rate
 * (1,000/s), never above 128 MiB.
 * `rates` only names the loads in the figures.
 */
export function evaluateIssue14Targets(
  summaries: readonly Summary[],
  memory: readonly MemorySummary[],
  rates: { rate: number; lowRate: number },
  subject: PathName = 'meshlet',
): FigureRow[] {
  const shown: PathName[] = [subject, 'nginx', 'h2-floor', 'direct'];
  const perPath = (scenario: Scenario, metric: (s: Summary) => number | undefined): Partial<Record<PathName, number>> =>
    Object.fromEntries(shown.map((p) => {
      const s = find(summaries, scenario, p);
      return [p, s ? (metric(s) ?? NaN) : NaN];
    }));
  const perMemory = (metric: (m: MemorySummary) => number): Partial<Record<PathName, number>> =>
    Object.fromEntries(shown.map((p) => {
      const m = memory.find((x) => x.path === p);
      return [p, m ? metric(m) : NaN];
    }));
  const relative = (figure: string, values: Partial<Record<PathName, number>>, limit: number, atMost: boolean, digits: number): FigureRow => {
    const r = ratio(values[subject], values.nginx);
    return { figure, values, ratio: r, limit: `${atMost ? '≤' : '≥'} ${limit.toFixed(2)}× nginx`, verdict: verdictOf(r, limit, atMost), digits };
  };
  const absolute = (figure: string, values: Partial<Record<PathName, number>>, limitMiB: number): FigureRow => ({
    figure,
    values,
    ratio: ratio(values[subject], values.nginx),
    limit: `≤ ${limitMiB} MiB`,
    verdict: verdictOf(values[subject] ?? NaN, limitMiB, true),
    digits: 1,
  });
  return [
    relative('64 KiB unary, peak req/s', perPath('large-peak', (s) => s.reqPerSec), 1, false, 0),
    relative('64 KiB unary, proxy CPU µs/call', perPath('large-peak', (s) => s.proxyCpuUsPerCall), 1.5, true, 1),
    relative(`unary at ${rates.rate}/s, p99 ms`, perPath('unary-rate', (s) => s.p99Us / 1000), 1, true, 2),
    relative(`unary at ${rates.rate}/s, proxy CPU µs/call`, perPath('unary-rate', (s) => s.proxyCpuUsPerCall), 1, true, 1),
    relative(`unary at ${rates.rate}/s spread, p99 ms`, perPath('unary-spread', (s) => s.p99Us / 1000), 1, true, 2),
    relative(`unary at ${rates.rate}/s spread, CPU µs/call`, perPath('unary-spread', (s) => s.proxyCpuUsPerCall), 1, true, 1),
    absolute('RSS idle at start, MiB', perMemory((m) => m.idleMiB), 55),
    absolute('RSS idle, settled, MiB', perMemory((m) => m.idleSettledMiB), 55),
    absolute(`RSS peak at ${rates.lowRate}/s, MiB`, perMemory((m) => m.scenarios['unary-low']?.peakMiB ?? NaN), 64),
    absolute('RSS highest over the bench, MiB', perMemory((m) => m.maxMiB), 128),
  ];
}

/** The issue #14 target block: every figure for meshlet, nginx, h2-floor and direct, the ratio, the limit and PASS/FAIL. */
export function formatIssue14Targets(rows: readonly FigureRow[], subject: PathName = 'meshlet'): string[] {
  const shown: PathName[] = [subject, 'nginx', 'h2-floor', 'direct'];
  return [
    `Targets (issue #14): ${subject} against nginx in this run; h2-floor and direct for reference (fixed-rate and peak figures are medians)`,
    table(
      ['figure', ...shown, `${subject} ÷ nginx`, 'limit', 'result'],
      rows.map((r) => [r.figure, ...shown.map((p) => fmt(r.values[p], r.digits)), ratioText(r.ratio), r.limit, r.verdict]),
    ),
  ];
}
