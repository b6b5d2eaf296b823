// SPDX-License-Identifier: Apache-2.0
// Leak probes for integration tests: a sidecar's calls in flight per listener (the meshlet_calls_in_flight gauge,
// which reads ProxyListener.activeCalls) and its pools' in-flight upstream streams, plus a wait until all are zero.

import type { App } from '../../src/app.js';

/** What is still open in one sidecar. */
export interface LeakSnapshot {
  /** Calls in flight per listener direction (only the listeners the sidecar has). */
  readonly inflight: Record<string, number>;
  /** Per pool direction, per endpoint: sessions and in-flight streams (SessionPool.stats()). */
  readonly pools: Record<string, Record<string, { sessions: number; active: number }>>;
}

/** Reads the in-flight calls and pool streams of `app` now. */
export async function leakSnapshot(app: App): Promise<LeakSnapshot> {
  const inflight: Record<string, number> = {};
  const gauge = app.observability.metrics.registry.getSingleMetric('meshlet_calls_in_flight');
  if (gauge === undefined) throw new Error('meshlet_calls_in_flight is not registered');
  const values = (await gauge.get()).values as Array<{ labels: Record<string, string | number>; value: number }>;
  for (const v of values) inflight[String(v.labels.direction)] = v.value;
  const pools: LeakSnapshot['pools'] = {};
  if (app.pools.inbound !== undefined) pools.inbound = app.pools.inbound.stats();
  if (app.pools.outbound !== undefined) pools.outbound = app.pools.outbound.stats();
  return { inflight, pools };
}

/** Human-readable leaks in `s` (empty when nothing is in flight). */
export function leaksIn(s: LeakSnapshot): string[] {
  const out: string[] = [];
  for (const [direction, n] of Object.entries(s.inflight)) if (n !== 0) out.push(`${direction} listener: ${n} calls in flight`);
  for (const [direction, stats] of Object.entries(s.pools)) {
    for (const [address, st] of Object.entries(stats)) if (st.active !== 0) out.push(`${direction} pool → ${address}: ${st.active} streams active`);
  }
  return out;
}

/**
 * Polls (every 5 ms, no fixed sleep) until no sidecar in `apps` has a call in flight or an active pool stream.
 * Resolves with [] then; after `timeoutMs` resolves with the leaks still seen, prefixed with the sidecar's name.
 */
export async function waitForNoLeaks(apps: Record<string, App>, timeoutMs = 3000): Promise<string[]> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const leaks: string[] = [];
    for (const [name, app] of Object.entries(apps)) for (const l of leaksIn(await leakSnapshot(app))) leaks.push(`${name}: ${l}`);
    if (leaks.length === 0 || performance.now() > deadline) return leaks;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
