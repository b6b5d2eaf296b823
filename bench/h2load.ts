// SPDX-License-Identifier: Apache-2.0
// Runs h2load (nghttp2) for one measurement and parses its summary and per-request log into numbers.

import { readFileSync } from 'node:fs';
import { BENCH_METHOD_PATH } from './grpc-wire.js';
import { spawnTracked } from './processes.js';

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
 * Runs h2load once and waits for it; its output goes to `outputPath`. Tracked like every child, and killed after
 * `seconds + 30` s so a hung path cannot stall the bench. Rejects when h2load cannot start, exits non-zero, or
 * prints no summary.
 */
export async function runH2load(spec: LoadSpec, outputPath: string): Promise<LoadResult> {
  const h2load = spawnTracked('h2load', spec.bin, h2loadArgs(spec), { logPath: outputPath });
  const killer = setTimeout(() => h2load.child.kill('SIGKILL'), (spec.seconds + 30) * 1000);
  const code = await h2load.exited;
  clearTimeout(killer);
  const output = readFileSync(outputPath, 'utf8');
  if (code !== 0) throw new Error(`h2load exited with ${code}:\n${output.slice(-2000)}`);
  return { ...parseH2loadSummary(output), ...latencyPercentiles(readFileSync(spec.logPath, 'utf8')) };
}
