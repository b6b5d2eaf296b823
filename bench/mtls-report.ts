// SPDX-License-Identifier: Apache-2.0
// Turns the mTLS suite's samples into per-run values, medians with their spread, ratios against the references of
// the same run (nginx, the sidecars without TLS, direct), the mTLS targets with pass/fail, and the printed
// tables. Pure: no I/O.

import { ARRIVALS, type Arrivals } from './h2load.js';
import type { ChainPath, HandshakeServer } from './mtls-args.js';
import type { LoadResult } from './h2load.js';
import { fmt, median, problemsOf, ratio, table, type Verdict } from './report.js';

/** One handshake measurement against one server: what the load generators did and what both sides burnt. */
export interface HandshakeSample {
  server: HandshakeServer;
  run: number;
  /** Completed mTLS handshakes (server's first HTTP/2 bytes received) over all load generators. */
  handshakes: number;
  errors: number;
  firstError: string | undefined;
  /** Wall time of the load, in s (the longest load generator). */
  seconds: number;
  /** CPU (µs) of the server's process tree during the load. */
  serverCpuUs: number;
  /** CPU (µs) of the load generators, summed. */
  clientCpuUs: number;
  /** The busiest load generator's CPU ÷ wall time (1.0 = one core; a Node.js process's TLS runs on one thread). */
  busiestClientCores: number;
  /** Connect-to-first-server-bytes, ms (worst load generator's nearest-rank value). */
  p50Ms: number;
  p99Ms: number;
  /** TLS version and key exchange group the load generator saw, e.g. `TLSv1.3 X25519`. */
  negotiated: string | undefined;
}

/** One fixed-rate h2load measurement through one two-sidecar path. */
export interface ChainSample {
  path: ChainPath;
  run: number;
  /** How the calls arrived (mtls-args.ts ARRIVALS); direct is measured with each pattern too. */
  arrivals: Arrivals;
  /** Share of calls that started within 100 µs of the one before (h2load.ts clusteredShare): the burstiness seen. */
  clustered: number;
  load: LoadResult;
  /** Calls the app completed during the run (the denominator of CPU per call). */
  appCalls: number;
  appCpuUs: number;
  /** CPU (µs) of each sidecar's process tree during the run, sidecar A (h2load side) first; empty on direct. */
  sidecarCpuUs: readonly number[];
}

/** Issue 12's targets and the published Istio figures they are set against. */
export const MTLS_TARGETS = {
  /** Full mTLS handshakes per CPU-second of the server (= per core), ECDSA P-256. */
  handshakesPerCore: 300,
  /** p99 added over direct by two meshlet sidecars with mTLS between them, ms. */
  addedP99Ms: 1.0,
  /** CPU per 1,000 calls/s per sidecar, in vCPU. */
  vcpuPerSidecar: 0.08,
  istioAddedP99Ms: 2.7,
  istioVcpuPerSidecar: 0.2,
} as const;

/** Handshakes per second of wall time. */
export function handshakesPerSecond(s: HandshakeSample): number {
  return s.seconds > 0 ? s.handshakes / s.seconds : NaN;
}

/** Handshakes per CPU-second of the server's process tree: what one fully busy core would do. */
export function handshakesPerServerCpuSecond(s: HandshakeSample): number {
  return s.serverCpuUs > 0 ? s.handshakes / (s.serverCpuUs / 1e6) : NaN;
}

/** Cores the server kept busy (CPU ÷ wall time). */
export function serverCores(s: HandshakeSample): number {
  return s.seconds > 0 ? s.serverCpuUs / 1e6 / s.seconds : NaN;
}

/** Client CPU per handshake ÷ server CPU per handshake. */
export function clientServerCpuRatio(s: HandshakeSample): number {
  return ratio(s.clientCpuUs, s.serverCpuUs);
}

/**
 * True when the load generators rather than the server limited the rate: the busiest one used at least 0.85 of a
 * core while the server used less than 0.85. Handshakes per server CPU-second stay valid then; handshakes/s do not
 * show the server's limit.
 */
export function clientBound(s: HandshakeSample): boolean {
  return s.busiestClientCores >= 0.85 && serverCores(s) < 0.85;
}

/**
 * vCPU per sidecar at 1,000 calls/s: mean CPU of the sidecars per call that reached the app, scaled to 1,000 calls
 * each second (µs per call × 1000 / 1e6). `which` picks one sidecar (0 = A, 1 = B); default the mean of all.
 * NaN on direct or without calls.
 */
export function vcpuPer1kCalls(s: ChainSample, which?: number): number {
  if (s.sidecarCpuUs.length === 0 || s.appCalls <= 0) return NaN;
  const cpuUs = which === undefined ? s.sidecarCpuUs.reduce((a, b) => a + b, 0) / s.sidecarCpuUs.length : (s.sidecarCpuUs[which] ?? NaN);
  return ((cpuUs / s.appCalls) * 1000) / 1e6;
}

/**
 * Per-run values of `metric(path's sample) − metric(direct's sample)` for runs that measured both with the same
 * arrivals.
 */
export function addedOverDirect(
  samples: readonly ChainSample[],
  path: ChainPath,
  metric: (s: ChainSample) => number,
  arrivals: Arrivals = 'burst',
): number[] {
  const out: number[] = [];
  for (const s of samples) {
    if (s.path !== path || s.arrivals !== arrivals) continue;
    const d = samples.find((x) => x.path === 'direct' && x.run === s.run && x.arrivals === arrivals);
    if (d) out.push(metric(s) - metric(d));
  }
  return out;
}

/** Median, and the lowest and highest value, over runs; NaN where there are none. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  values: number[];
}

export function spread(values: readonly number[]): Spread {
  const ok = values.filter((v) => !Number.isNaN(v));
  return {
    median: median(ok),
    min: ok.length > 0 ? Math.min(...ok) : NaN,
    max: ok.length > 0 ? Math.max(...ok) : NaN,
    values: [...values],
  };
}

/** "318 (301–325)": the median and, with more than one run, the range over runs. */
export function spreadText(s: Spread, digits: number, sign = false): string {
  const f = (n: number): string => `${sign && n >= 0 ? '+' : ''}${fmt(n, digits)}`;
  if (Number.isNaN(s.median)) return '-';
  return s.values.length > 1 ? `${f(s.median)} (${f(s.min)}…${f(s.max)})` : f(s.median);
}

/** Per-server summary of the handshake scenario. */
export interface HandshakeSummary {
  server: HandshakeServer;
  runs: number;
  perSecond: Spread;
  perServerCpuSecond: Spread;
  serverCores: Spread;
  busiestClientCores: Spread;
  clientServerCpu: Spread;
  p50Ms: Spread;
  p99Ms: Spread;
  errors: number;
  firstError: string | undefined;
  clientBoundRuns: number;
}

export function summariseHandshakes(samples: readonly HandshakeSample[]): HandshakeSummary[] {
  const servers = [...new Set(samples.map((s) => s.server))];
  return servers.map((server) => {
    const group = samples.filter((s) => s.server === server);
    return {
      server,
      runs: group.length,
      perSecond: spread(group.map(handshakesPerSecond)),
      perServerCpuSecond: spread(group.map(handshakesPerServerCpuSecond)),
      serverCores: spread(group.map(serverCores)),
      busiestClientCores: spread(group.map((s) => s.busiestClientCores)),
      clientServerCpu: spread(group.map(clientServerCpuRatio)),
      p50Ms: spread(group.map((s) => s.p50Ms)),
      p99Ms: spread(group.map((s) => s.p99Ms)),
      errors: group.reduce((n, s) => n + s.errors, 0),
      firstError: group.find((s) => s.firstError !== undefined)?.firstError,
      clientBoundRuns: group.filter(clientBound).length,
    };
  });
}

/** Per-path, per-arrivals summary of the two-sidecar scenario. Latencies in ms, CPU in vCPU per 1,000 calls/s. */
export interface ChainSummary {
  path: ChainPath;
  arrivals: Arrivals;
  runs: number;
  clustered: Spread;
  reqPerSec: Spread;
  p50Ms: Spread;
  p99Ms: Spread;
  addedP50Ms: Spread;
  addedP99Ms: Spread;
  /** Mean of the sidecars. */
  vcpuPerSidecar: Spread;
  vcpuA: Spread;
  vcpuB: Spread;
  problems: number;
}

/** One summary per arrival pattern and path, burst first, paths in the order they were measured. */
export function summariseChain(samples: readonly ChainSample[]): ChainSummary[] {
  const ms = (us: number): number => us / 1000;
  const groups: { path: ChainPath; arrivals: Arrivals }[] = [];
  for (const arrivals of ARRIVALS) {
    for (const path of new Set(samples.filter((s) => s.arrivals === arrivals).map((s) => s.path))) groups.push({ path, arrivals });
  }
  return groups.map(({ path, arrivals }) => {
    const group = samples.filter((s) => s.path === path && s.arrivals === arrivals);
    return {
      path,
      arrivals,
      runs: group.length,
      clustered: spread(group.map((s) => s.clustered)),
      reqPerSec: spread(group.map((s) => s.load.reqPerSec)),
      p50Ms: spread(group.map((s) => ms(s.load.p50Us))),
      p99Ms: spread(group.map((s) => ms(s.load.p99Us))),
      addedP50Ms: spread(path === 'direct' ? [] : addedOverDirect(samples, path, (s) => ms(s.load.p50Us), arrivals)),
      addedP99Ms: spread(path === 'direct' ? [] : addedOverDirect(samples, path, (s) => ms(s.load.p99Us), arrivals)),
      vcpuPerSidecar: spread(group.map((s) => vcpuPer1kCalls(s))),
      vcpuA: spread(group.map((s) => vcpuPer1kCalls(s, 0))),
      vcpuB: spread(group.map((s) => vcpuPer1kCalls(s, 1))),
      problems: group.reduce((n, s) => n + problemsOf(s), 0),
    };
  });
}

/** One of issue 12's targets, evaluated on medians. */
export interface MtlsTargetResult {
  name: string;
  value: number;
  /** nginx's value in the same run, for context. */
  nginx: number;
  limit: string;
  published: string;
  verdict: Verdict;
  /** Why the verdict is NOISY. */
  note?: string;
}

/**
 * Why the p99 two sidecars add over direct cannot be judged in these runs, or undefined when it can: a run where
 * the proxied path's p99 was below direct's own (the tail was the machine, not the path), or direct's own p99
 * varying more than 2× between runs. Either way a stall of the machine moved the tail more than the sidecars did.
 */
export function tailNoise(direct: ChainSummary | undefined, path: ChainSummary | undefined): string | undefined {
  if (direct === undefined || path === undefined || Number.isNaN(path.addedP99Ms.min)) return undefined;
  if (path.addedP99Ms.min < 0) return `a run's added p99 was ${fmt(path.addedP99Ms.min, 2)} ms (below direct's own)`;
  if (direct.p99Ms.max > 2 * direct.p99Ms.min) return `direct's own p99 ranged ${fmt(direct.p99Ms.min, 2)}…${fmt(direct.p99Ms.max, 2)} ms over the runs`;
  return undefined;
}

function verdict(value: number, limit: number, atMost: boolean): Verdict {
  return Number.isNaN(value) ? 'n/a' : (atMost ? value <= limit : value >= limit) ? 'PASS' : 'FAIL';
}

/** What each arrival pattern is called in the targets table. */
const ARRIVALS_TEXT: Record<Arrivals, string> = { burst: 'burst arrivals', spread: 'spread arrivals' };

/**
 * Issue 12's targets on medians: handshakes per core once, then the p99 added and the vCPU per sidecar for each
 * arrival pattern that was measured (burst first), each named with its pattern.
 */
export function evaluateMtlsTargets(handshakes: readonly HandshakeSummary[], chain: readonly ChainSummary[]): MtlsTargetResult[] {
  const h = (server: HandshakeServer): number => handshakes.find((x) => x.server === server)?.perServerCpuSecond.median ?? NaN;
  const T = MTLS_TARGETS;
  const out: MtlsTargetResult[] = [
    {
      name: 'mTLS handshakes per server CPU-second (per core)',
      value: h('meshlet'),
      nginx: h('nginx'),
      limit: `≥ ${T.handshakesPerCore}`,
      published: 'Node 318/s',
      verdict: verdict(h('meshlet'), T.handshakesPerCore, false),
    },
  ];
  const patterns = [...new Set(chain.map((c) => c.arrivals))];
  for (const arrivals of patterns.length > 0 ? patterns : (['burst'] as const)) {
    const c = (path: ChainPath): ChainSummary | undefined => chain.find((x) => x.path === path && x.arrivals === arrivals);
    const meshlet = c('meshlet-x2-mtls');
    const nginx = c('nginx-x2-mtls');
    const suffix = patterns.length > 1 ? `, ${ARRIVALS_TEXT[arrivals]}` : '';
    const noise = tailNoise(c('direct'), meshlet);
    out.push(
      {
        name: `two sidecars with mTLS: p99 added over direct (ms)${suffix}`,
        value: meshlet?.addedP99Ms.median ?? NaN,
        nginx: nginx?.addedP99Ms.median ?? NaN,
        limit: `≤ ${T.addedP99Ms.toFixed(1)}`,
        published: `Istio +${T.istioAddedP99Ms}`,
        verdict: noise === undefined ? verdict(meshlet?.addedP99Ms.median ?? NaN, T.addedP99Ms, true) : 'NOISY',
        ...(noise === undefined ? {} : { note: noise }),
      },
      {
        name: `vCPU per sidecar per 1,000 calls/s${suffix}`,
        value: meshlet?.vcpuPerSidecar.median ?? NaN,
        nginx: nginx?.vcpuPerSidecar.median ?? NaN,
        limit: `≤ ${T.vcpuPerSidecar.toFixed(2)}`,
        published: `Istio ${T.istioVcpuPerSidecar.toFixed(2)}`,
        verdict: verdict(meshlet?.vcpuPerSidecar.median ?? NaN, T.vcpuPerSidecar, true),
      },
    );
  }
  return out;
}

/** One progress line per handshake measurement. */
export function formatHandshakeLine(s: HandshakeSample, runs: number): string {
  return (
    `run ${s.run}/${runs} handshake ${s.server.padEnd(8)} ${fmt(handshakesPerSecond(s), 0).padStart(6)}/s  ` +
    `${fmt(handshakesPerServerCpuSecond(s), 0)} per server CPU-s  server ${fmt(serverCores(s), 2)} cores  ` +
    `busiest client ${fmt(s.busiestClientCores, 2)} cores  p50 ${fmt(s.p50Ms, 1)} ms  ${s.negotiated ?? ''}` +
    (s.errors > 0 ? `  WARNING: ${s.errors} failed (${s.firstError ?? '?'})` : '') +
    (clientBound(s) ? '  note: client-bound (--handshake-procs)' : '')
  );
}

/** One progress line per two-sidecar measurement. */
export function formatChainLine(s: ChainSample, runs: number): string {
  const problems = problemsOf(s);
  const each = s.sidecarCpuUs.map((_, i) => fmt(vcpuPer1kCalls(s, i), 3)).join(' + ');
  return (
    `run ${s.run}/${runs} chain ${s.path.padEnd(15)} ${s.arrivals.padEnd(5)} ${fmt(s.load.reqPerSec, 0).padStart(6)} req/s  ` +
    `p50 ${fmt(s.load.p50Us / 1000, 2)} ms  p99 ${fmt(s.load.p99Us / 1000, 2)} ms  clustered ${fmt(s.clustered, 2)}` +
    (each ? `  vCPU/1k calls/s ${each}` : '') +
    (problems > 0 ? `  WARNING: ${s.load.done} done, ${s.load.succeeded} ok, ${s.appCalls} reached the app` : '')
  );
}

function ratioText(r: number): string {
  return Number.isNaN(r) || !Number.isFinite(r) ? '-' : `${r.toFixed(2)}×`;
}

/**
 * Ratio of two medians; NaN (printed '-') when either is missing or not positive: an added latency at or below
 * direct's is noise, and a ratio of it means nothing.
 */
export function medianRatio(a: Spread | undefined, b: Spread | undefined): number {
  return a === undefined || b === undefined || !(a.median > 0) || !(b.median > 0) ? NaN : a.median / b.median;
}

/** The printed report of the suite: handshake table, two-sidecar tables with ratios, the targets. */
export function formatMtlsReport(
  handshakes: readonly HandshakeSummary[],
  chain: readonly ChainSummary[],
  describe: { handshake: string; chain: string },
): string {
  const out: string[] = [];
  const runsOf = (xs: readonly { runs: number }[]): number => Math.max(0, ...xs.map((x) => x.runs));
  if (handshakes.length > 0) {
    out.push(`mTLS handshakes: ${describe.handshake}; median (lowest…highest) of ${runsOf(handshakes)} run(s)`);
    out.push(
      table(
        ['server', 'handshakes/s', 'per server CPU-s', 'server cores', 'busiest client cores', 'client ÷ server CPU', 'p50 ms', 'failed'],
        handshakes.map((h) => [
          h.server,
          spreadText(h.perSecond, 0),
          spreadText(h.perServerCpuSecond, 0),
          spreadText(h.serverCores, 2),
          spreadText(h.busiestClientCores, 2),
          spreadText(h.clientServerCpu, 2),
          spreadText(h.p50Ms, 1),
          String(h.errors),
        ]),
      ),
    );
    const m = handshakes.find((h) => h.server === 'meshlet');
    const n = handshakes.find((h) => h.server === 'nginx');
    if (m && n) {
      out.push(
        `meshlet ÷ nginx: handshakes per server CPU-s ${ratioText(medianRatio(m.perServerCpuSecond, n.perServerCpuSecond))}, ` +
          `handshakes/s ${ratioText(medianRatio(m.perSecond, n.perSecond))}`,
      );
    }
    for (const h of handshakes) {
      if (h.clientBoundRuns > 0) {
        out.push(`note: ${h.server}: ${h.clientBoundRuns} run(s) limited by the load generator, not the server; per CPU-s still holds.`);
      }
      if (h.errors > 0) out.push(`note: ${h.server}: ${h.errors} handshakes failed, first: ${h.firstError ?? '?'}`);
    }
    out.push('');
  }
  if (chain.length > 0) {
    out.push(`Two sidecars, fixed rate: ${describe.chain}; median (lowest…highest) of ${runsOf(chain)} run(s)`);
    out.push(
      table(
        ['path', 'arrivals', 'clustered', 'req/s', 'p50 ms', 'p99 ms', '+p50 ms', '+p99 ms', 'vCPU/sidecar', 'A vCPU', 'B vCPU', 'problems'],
        chain.map((c) => [
          c.path,
          c.arrivals,
          spreadText(c.clustered, 2),
          spreadText(c.reqPerSec, 0),
          spreadText(c.p50Ms, 2),
          spreadText(c.p99Ms, 2),
          spreadText(c.addedP50Ms, 2, true),
          spreadText(c.addedP99Ms, 2, true),
          spreadText(c.vcpuPerSidecar, 3),
          spreadText(c.vcpuA, 3),
          spreadText(c.vcpuB, 3),
          String(c.problems),
        ]),
      ),
    );
    out.push(
      '+p50/+p99 = the path minus direct in the same run with the same arrivals; vCPU = CPU per 1,000 calls/s (per sidecar: mean of A and B);',
      'clustered = share of calls that started within 100 µs of the call before them (one h2load: 0.9; a call every 1,000/rate ms exactly: 0).',
    );
    const plainOf = (a: Arrivals): ChainSummary | undefined => chain.find((c) => c.path === 'meshlet-x2' && c.arrivals === a);
    const nginxOf = (a: Arrivals): ChainSummary | undefined => chain.find((c) => c.path === 'nginx-x2-mtls' && c.arrivals === a);
    const plain = chain.some((c) => c.path === 'meshlet-x2');
    const nginx = chain.some((c) => c.path === 'nginx-x2-mtls');
    const rows = chain
      .filter((c) => c.path !== 'direct')
      .map((c) => [
        c.path,
        c.arrivals,
        ratioText(medianRatio(c.addedP50Ms, plainOf(c.arrivals)?.addedP50Ms)),
        ratioText(medianRatio(c.addedP99Ms, plainOf(c.arrivals)?.addedP99Ms)),
        ratioText(medianRatio(c.vcpuPerSidecar, plainOf(c.arrivals)?.vcpuPerSidecar)),
        ratioText(medianRatio(c.addedP50Ms, nginxOf(c.arrivals)?.addedP50Ms)),
        ratioText(medianRatio(c.addedP99Ms, nginxOf(c.arrivals)?.addedP99Ms)),
        ratioText(medianRatio(c.vcpuPerSidecar, nginxOf(c.arrivals)?.vcpuPerSidecar)),
      ]);
    if (rows.length > 1 && (plain || nginx)) {
      out.push('', 'Ratios of medians (same run; "-" where a side is missing or added no latency over direct)');
      out.push(
        table(['path', 'arrivals', '+p50 ×no-TLS', '+p99 ×no-TLS', 'vCPU ×no-TLS', '+p50 ×nginx×2', '+p99 ×nginx×2', 'vCPU ×nginx×2'], rows),
      );
    }
    out.push('');
  }
  const targets = evaluateMtlsTargets(handshakes, chain);
  out.push('Targets (issue 12): meshlet, with nginx from the same run and the published figure for context');
  out.push(
    table(
      ['target', 'meshlet', 'nginx', 'limit', 'published', 'result'],
      targets.map((t) => [t.name, fmt(t.value, Math.abs(t.value) >= 10 ? 0 : 3), fmt(t.nginx, Math.abs(t.nginx) >= 10 ? 0 : 3), t.limit, t.published, t.verdict]),
    ),
  );
  for (const t of targets) if (t.note !== undefined) out.push(`NOISY: ${t.name}: ${t.note}; rerun on a quiet machine.`);
  return out.join('\n');
}
