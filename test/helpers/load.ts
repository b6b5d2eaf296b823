// SPDX-License-Identifier: Apache-2.0
// An open-loop load generator for rate tests: sends unary calls at a fixed rate (catching up after a late timer
// tick, so the offered rate holds even on a busy machine) for a duration, and sorts the results by status.

import * as grpc from '@grpc/grpc-js';
import { unary, type EchoClient, type UnaryResult } from './echo.js';

export interface LoadResult {
  /** Calls that succeeded. */
  readonly ok: number;
  /** Calls rejected with RESOURCE_EXHAUSTED. */
  readonly limited: number;
  /** Every other result, by x-meshlet-error or status. */
  readonly other: ReadonlyMap<string, number>;
  /** performance.now() of the first and of the last send. */
  readonly firstSendMs: number;
  readonly lastSendMs: number;
  /** The slowest call, ms. */
  readonly maxLatencyMs: number;
  readonly results: readonly UnaryResult[];
}

/** Offers `perSecond` calls for `durationMs`; `metadata(i)` gives each call's metadata. Resolves once all ended. */
export async function offerLoad(client: EchoClient, perSecond: number, durationMs: number, metadata?: (i: number) => grpc.Metadata): Promise<LoadResult> {
  const calls: Promise<{ r: UnaryResult; ms: number }>[] = [];
  const start = performance.now();
  let lastSend = start;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(Math.floor(((now - start) * perSecond) / 1000) + 1, Math.ceil((durationMs * perSecond) / 1000));
      while (calls.length < due) {
        const i = calls.length;
        const t0 = performance.now();
        lastSend = t0;
        calls.push(unary(client, Buffer.from('x'), metadata?.(i) ?? new grpc.Metadata()).then((r) => ({ r, ms: performance.now() - t0 })));
      }
      if (now - start >= durationMs) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const done = await Promise.all(calls);
  let ok = 0;
  let limited = 0;
  const other = new Map<string, number>();
  for (const { r } of done) {
    if (r.err === null) ok++;
    else if (r.err.code === grpc.status.RESOURCE_EXHAUSTED) limited++;
    else {
      const k = String(r.trailers?.get('x-meshlet-error')[0] ?? `status ${r.err.code}: ${r.err.details}`);
      other.set(k, (other.get(k) ?? 0) + 1);
    }
  }
  return { ok, limited, other, firstSendMs: start, lastSendMs: lastSend, maxLatencyMs: Math.max(0, ...done.map((d) => d.ms)), results: done.map((d) => d.r) };
}

/**
 * How many of the calls arriving at `arrivalsMs` (any order) an ideal token bucket of `perSecond` and `burst`,
 * full at the first arrival, admits: the reference a limiter is checked against when the machine is too busy to
 * offer a steady load (a stalled event loop bunches arrivals, and a full bucket wastes its refill meanwhile).
 */
export function idealAdmitted(arrivalsMs: readonly number[], perSecond: number, burst: number): number {
  const sorted = [...arrivalsMs].sort((a, b) => a - b);
  let tokens = burst;
  let last = sorted[0] ?? 0;
  let admitted = 0;
  for (const t of sorted) {
    tokens = Math.min(burst, tokens + ((t - last) * perSecond) / 1000);
    last = t;
    if (tokens >= 1) {
      tokens -= 1;
      admitted++;
    }
  }
  return admitted;
}
