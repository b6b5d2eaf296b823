// SPDX-License-Identifier: Apache-2.0
// The harness side of the mTLS suite's handshake scenario: starts bench/handshake-load.ts processes against one TLS
// server, waits for them and adds up their results. The load generator's argv and result line are defined here.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { spawnTracked } from './processes.js';

/** dist/bench/handshake-load.js. */
export const HANDSHAKE_LOAD_MAIN = fileURLToPath(new URL('./handshake-load.js', import.meta.url));

/** One load generator's result, printed as one JSON line prefixed by `RESULT_PREFIX`. */
export interface HandshakeLoadResult {
  /** Connections that completed the mTLS handshake and got the server's first HTTP/2 bytes. */
  handshakes: number;
  /** Connections that failed (TLS alert, reset, no ALPN h2, timeout). */
  errors: number;
  /** The first failure's message, for the report. */
  firstError: string | undefined;
  /** From the first connect to the last connection settled, in ms. */
  elapsedMs: number;
  /** This process's own user+system CPU over that time, in µs (process.cpuUsage). */
  cpuUs: number;
  /** Nearest-rank connect-to-first-server-bytes time of successful connections, in ms. */
  p50Ms: number;
  p99Ms: number;
  /** What the first successful connection negotiated, e.g. `TLSv1.3 X25519`, so the report can show both sides agree. */
  negotiated: string | undefined;
}

export const RESULT_PREFIX = 'handshake-result ';

/** The load generator's command-line arguments. */
export interface HandshakeLoadArgs {
  port: number;
  /** PEM file paths. */
  ca: string;
  cert: string;
  key: string;
  servername: string;
  concurrency: number;
  seconds: number;
}

/** argv for a spec (after the script path). Pure. */
export function handshakeLoadArgv(a: HandshakeLoadArgs): string[] {
  return [
    '--port', String(a.port), '--ca', a.ca, '--cert', a.cert, '--key', a.key, '--servername', a.servername,
    '--concurrency', String(a.concurrency), '--seconds', String(a.seconds),
  ];
}

/** Finds and parses the result line in a load generator's output. Throws when there is none. Pure. */
export function parseHandshakeResult(output: string): HandshakeLoadResult {
  const line = output.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
  if (!line) throw new Error(`no result line from the handshake load generator:\n${output.slice(-2000)}`);
  // JSON has no NaN: a run without a single success printed null percentiles.
  const raw = JSON.parse(line.slice(RESULT_PREFIX.length)) as Record<keyof HandshakeLoadResult, unknown>;
  const num = (v: unknown): number => (typeof v === 'number' ? v : NaN);
  return {
    handshakes: num(raw.handshakes),
    errors: num(raw.errors),
    firstError: typeof raw.firstError === 'string' ? raw.firstError : undefined,
    elapsedMs: num(raw.elapsedMs),
    cpuUs: num(raw.cpuUs),
    p50Ms: num(raw.p50Ms),
    p99Ms: num(raw.p99Ms),
    negotiated: typeof raw.negotiated === 'string' ? raw.negotiated : undefined,
  };
}

/**
 * Runs `procs` load generators against one server at once and adds up their results: handshakes, errors and CPU
 * are summed, elapsed is the longest, percentiles are the worst process's (each process only knows its own).
 * Each is killed after `seconds + 30` s. `logPrefix` + `-<i>.log` receives each one's output.
 */
export async function runHandshakeLoad(args: HandshakeLoadArgs, procs: number, logPrefix: string): Promise<{
  total: HandshakeLoadResult;
  perProcess: HandshakeLoadResult[];
}> {
  const runs = Array.from({ length: procs }, async (_, i) => {
    const logPath = `${logPrefix}-${i + 1}.log`;
    const child = spawnTracked('handshake-load', process.execPath, [HANDSHAKE_LOAD_MAIN, ...handshakeLoadArgv(args)], { logPath });
    const killer = setTimeout(() => child.child.kill('SIGKILL'), (args.seconds + 30) * 1000);
    const code = await child.exited;
    clearTimeout(killer);
    const output = readFileSync(logPath, 'utf8');
    if (code !== 0) throw new Error(`handshake load generator exited with ${code}:\n${output.slice(-2000)}`);
    return parseHandshakeResult(output);
  });
  const perProcess = await Promise.all(runs);
  return { total: sumHandshakeResults(perProcess), perProcess };
}

/** Adds up load generators that ran at the same time (see runHandshakeLoad). Pure. */
export function sumHandshakeResults(results: readonly HandshakeLoadResult[]): HandshakeLoadResult {
  const worst = (pick: (r: HandshakeLoadResult) => number): number => Math.max(...results.map(pick).filter((v) => !Number.isNaN(v)), -Infinity);
  const nanIfNone = (v: number): number => (v === -Infinity ? NaN : v);
  return {
    handshakes: results.reduce((n, r) => n + r.handshakes, 0),
    errors: results.reduce((n, r) => n + r.errors, 0),
    firstError: results.find((r) => r.firstError !== undefined)?.firstError,
    elapsedMs: nanIfNone(worst((r) => r.elapsedMs)),
    cpuUs: results.reduce((n, r) => n + r.cpuUs, 0),
    p50Ms: nanIfNone(worst((r) => r.p50Ms)),
    p99Ms: nanIfNone(worst((r) => r.p99Ms)),
    negotiated: results.find((r) => r.negotiated !== undefined)?.negotiated,
  };
}
