// SPDX-License-Identifier: Apache-2.0
// Runs h2load (nghttp2) for one measurement and parses its summary and per-request log into numbers.

import { readFileSync } from 'node:fs';
import { BENCH_METHOD_PATH } from './grpc-wire.js';
import { spawnTracked } from './processes.js';

/**
 * How the calls of a fixed-rate load arrive, at the same offered rate:
 * - `burst`: one h2load, `-c N --rps rate/N`: its connections' timers fire together, so at 1,000 calls/s over 10
 *   connections ten calls arrive at once every 10 ms (what the benches measured before they had the choice);
 * - `spread`: one h2load per connection (`-c 1`), started 1/rate apart. Each keeps the phase its own start gave its
 *   timer, so the calls are spread over the period like independent callers' instead of arriving together (at the
 *   defaults, 10-35 % of calls started within 100 µs of another, against 90 % in bursts).
 */
export const ARRIVALS = ['burst', 'spread'] as const;
export type Arrivals = (typeof ARRIVALS)[number];

/** A suite's single-pattern `--arrivals` flag: one of ARRIVALS, default burst. Throws naming the flag. */
export function arrivalsFlag(value: string | undefined): Arrivals {
  if (value === undefined) return 'burst';
  const found = ARRIVALS.find((a) => a === value);
  if (found === undefined) throw new Error(`--arrivals: expected one of ${ARRIVALS.join(', ')}, got '${value}'`);
  return found;
}

/** One h2load invocation. */
export interface LoadSpec {
  /** Path of the h2load executable. */
  bin: string;
  port: number;
  /** File with the gRPC-framed request body (`-d`). */
  bodyPath: string;
  /** Connections (`-c`). */
  clients: number;
  /** Max concurrent streams per connection (`-m`). */
  streams: number;
  /** Measured duration in seconds (`-D`). */
  seconds: number;
  /** Requests per second per connection (`--rps`); undefined = as fast as possible. */
  rpsPerClient: number | undefined;
  /** Where h2load writes one line per request (`--log-file`). */
  logPath: string;
}

/** What one h2load run measured. Latencies are in microseconds, from the per-request log. */
export interface LoadResult {
  reqPerSec: number;
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  p50Us: number;
  p99Us: number;
}

/** The h2load command line for a spec: a gRPC unary POST with `content-type: application/grpc` and `te: trailers`. */
export function h2loadArgs(spec: LoadSpec): string[] {
  const args = [
    `--clients=${spec.clients}`,
    `--max-concurrent-streams=${spec.streams}`,
    `--duration=${spec.seconds}`,
    `--data=${spec.bodyPath}`,
    '--header=content-type: application/grpc',
    '--header=te: trailers',
    `--log-file=${spec.logPath}`,
  ];
  if (spec.rpsPerClient !== undefined) args.push(`--rps=${spec.rpsPerClient}`);
  args.push(`http://127.0.0.1:${spec.port}${BENCH_METHOD_PATH}`);
  return args;
}

/**
 * Parses h2load's summary lines:
 * `finished in 4.00s, 26530.00 req/s, 1.01MB/s` and
 * `requests: 79590 total, 79590 started, 79590 done, 79590 succeeded, 0 failed, 0 errored, 0 timeout`.
 * Throws when they are missing (h2load failed to connect, or its output format changed).
 */
export function parseH2loadSummary(stdout: string): Omit<LoadResult, 'p50Us' | 'p99Us'> {
  const finished = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(stdout);
  const requests =
    /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      stdout,
    );
  if (!finished || !requests) throw new Error(`unexpected h2load output:\n${stdout.slice(-2000)}`);
  const [, done, succeeded, failed, errored, timeout] = requests.map(Number) as number[];
  return {
    reqPerSec: Number(finished[1]),
    done: done ?? 0,
    succeeded: succeeded ?? 0,
    failed: failed ?? 0,
    errored: errored ?? 0,
    timeout: timeout ?? 0,
  };
}

/**
 * Nearest-rank p50 and p99 of the successful requests in an h2load `--log-file` (columns: start µs since epoch,
 * HTTP status or -1, duration µs). h2load itself prints only min/max/mean/sd, so percentiles come from here.
 */
export function latencyPercentiles(logText: string): { p50Us: number; p99Us: number } {
  const durations: number[] = [];
  for (const line of logText.split('\n')) {
    const [, status, duration] = line.split('\t');
    if (status === undefined || status === '-1' || duration === undefined) continue;
    durations.push(Number(duration));
  }
  if (durations.length === 0) return { p50Us: NaN, p99Us: NaN };
  durations.sort((a, b) => a - b);
  const rank = (q: number): number => durations[Math.min(durations.length - 1, Math.ceil(q * durations.length) - 1)] ?? NaN;
  return { p50Us: rank(0.5), p99Us: rank(0.99) };
}

/**
 * Share of calls that started within `windowUs` of the call before them (h2load `--log-file` start times, µs since
 * the epoch, any order): how bursty the arrivals were. One h2load with `-c 10 --rps 100` starts all ten
 * connections' calls together every 10 ms (measured: 10-call bursts, 0.9 of calls within 50 µs of the previous one);
 * a call exactly every millisecond gives 0. NaN for fewer than two calls.
 */
export function clusteredShare(startsUs: readonly number[], windowUs = 100): number {
  if (startsUs.length < 2) return NaN;
  const sorted = [...startsUs].sort((a, b) => a - b);
  let close = 0;
  for (let i = 1; i < sorted.length; i++) if ((sorted[i] as number) - (sorted[i - 1] as number) < windowUs) close++;
  return close / (sorted.length - 1);
}

/** Start times (µs since the epoch) of the successful requests in an h2load `--log-file`. */
export function startTimes(logText: string): number[] {
  const out: number[] = [];
  for (const line of logText.split('\n')) {
    const [start, status] = line.split('\t');
    if (start === undefined || status === undefined || status === '-1' || start === '') continue;
    out.push(Number(start));
  }
  return out;
}

/**
 * Runs h2load once and waits for it; its output goes to `outputPath`. Tracked like every child, and killed after
 * `seconds + 30` s so a hung path cannot stall the bench. Rejects when h2load cannot start, exits non-zero, or
 * prints no summary.
 */
export async function runH2load(spec: LoadSpec, outputPath: string): Promise<LoadResult> {
  const { summary, log } = await runOnce(spec, outputPath);
  return { ...summary, ...latencyPercentiles(log) };
}

/** One h2load process to its end: its parsed summary and the text of its per-request log. */
async function runOnce(spec: LoadSpec, outputPath: string, argsFor: ArgsFor = h2loadArgs): Promise<{ summary: Omit<LoadResult, 'p50Us' | 'p99Us'>; log: string }> {
  const h2load = spawnTracked('h2load', spec.bin, argsFor(spec), { logPath: outputPath });
  const killer = setTimeout(() => h2load.child.kill('SIGKILL'), (spec.seconds + 30) * 1000);
  const code = await h2load.exited;
  clearTimeout(killer);
  const output = readFileSync(outputPath, 'utf8');
  if (code !== 0) throw new Error(`h2load exited with ${code}:\n${output.slice(-2000)}`);
  return { summary: parseH2loadSummary(output), log: readFileSync(spec.logPath, 'utf8') };
}

/** h2load's command line for a spec: {@link h2loadArgs}, or a suite's variant of it (gRPC-Web's content types). */
export type ArgsFor = (spec: LoadSpec) => string[];

/**
 * The load of `spec` with the given arrivals: `burst` is one h2load ({@link runH2load}), `spread` one per
 * connection ({@link runSpreadH2load}). Either way, how clustered the calls' starts were comes with the result.
 */
export async function runArrivals(spec: LoadSpec, outputPath: string, arrivals: Arrivals, argsFor: ArgsFor = h2loadArgs): Promise<LoadResult & { clustered: number }> {
  if (arrivals === 'spread') return runSpreadH2load(spec, outputPath, argsFor);
  const { summary, log } = await runOnce(spec, outputPath, argsFor);
  return { ...summary, ...latencyPercentiles(log), clustered: clusteredShare(startTimes(log)) };
}

/**
 * The same offered load as {@link runH2load}, with the calls spread out: one h2load process per connection (`-c 1`,
 * the spec's `--rps` each), started `1000 / (clients × rps)` ms apart, so at 1,000 calls/s over 10 connections the
 * calls of a 10 ms period are spread over it instead of arriving together. Each process's timer keeps the phase its
 * own start-up gave it (a process takes a few ms to start), so the spacing is not exact: where the calls land is
 * measured, not assumed ({@link clusteredShare} of the merged log; 0.10-0.35 in the mTLS suite against 0.90).
 * Counts and req/s are summed over the processes; percentiles are over every call of all of them.
 */
export async function runSpreadH2load(spec: LoadSpec, outputPath: string, argsFor: ArgsFor = h2loadArgs): Promise<LoadResult & { clustered: number }> {
  if (spec.rpsPerClient === undefined) throw new Error('runSpreadH2load needs a fixed rate (rpsPerClient)');
  const gapMs = 1000 / (spec.clients * spec.rpsPerClient);
  const runs: Promise<{ summary: Omit<LoadResult, 'p50Us' | 'p99Us'>; log: string }>[] = [];
  for (let i = 0; i < spec.clients; i++) {
    const one: LoadSpec = { ...spec, clients: 1, logPath: spec.logPath.replace(/(\.tsv)?$/, `.${i}$1`) };
    runs.push(runOnce(one, outputPath.replace(/(\.out)?$/, `.${i}$1`), argsFor));
    if (i < spec.clients - 1) await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  const results = await Promise.all(runs);
  const sum = (key: keyof Omit<LoadResult, 'p50Us' | 'p99Us'>): number => results.reduce((n, r) => n + r.summary[key], 0);
  const log = results.map((r) => r.log.trimEnd()).join('\n');
  return {
    reqPerSec: sum('reqPerSec'),
    done: sum('done'),
    succeeded: sum('succeeded'),
    failed: sum('failed'),
    errored: sum('errored'),
    timeout: sum('timeout'),
    ...latencyPercentiles(log),
    clustered: clusteredShare(startTimes(log)),
  };
}
