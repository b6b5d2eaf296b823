// SPDX-License-Identifier: Apache-2.0
// The rate limiter: the buckets of every limit, keyed by descriptor values, and the decision for one call against
// every limit that matches it. Local limits are token buckets in memory; global limits spend tokens leased in small
// batches from a shared bucket (the LeaseSource: Redis, src/redis/lease.ts), so most calls make no round trip.
// No I/O and no timers: the clock and the lease source are injected (tests use a manual clock and a scripted source).
//
// One call, several limits (all must admit; nothing is taken unless all do):
// 1. Each matching limit finds its bucket by descriptor key.
// 2. A global bucket with no leased token, Redis healthy and not known empty, fetches a lease and the call waits for
//    it (one fetch per bucket at a time, for at least as many tokens as calls wait; a second one when concurrent
//    calls outnumbered the first lease; Redis' command timeout bounds each, and a failed one ends the waiting).
// 3. Every limit is then checked without taking; an enforce limit that cannot admit rejects the call and nothing is
//    taken from any limit. A shadow limit that cannot admit is reported as `shadow_rejected` and takes nothing.
// 4. Otherwise one token is taken from every admitting limit; a global bucket half spent prefetches its next lease
//    in the background (leases of more than one token only).
//
// Redis failure (a lease fetch rejects): for `retryMs` every global limit uses its fallback, a local bucket of the
// same rate and burst in this sidecar (`failureMode: open`), or rejects (`closed`); the first call after that
// period fetches in the background (the call itself uses the fallback), so a dead or paused Redis holds at most the
// one call that found it failing, and global limiting resumes with the first lease that succeeds.

import { createTokenBucket, type TokenBucket } from './token-bucket.js';
import type { CompiledRateLimit } from './compile.js';
import { descriptorKey, type CallAttributes } from './descriptor.js';

/** Where the shared buckets of global limits live. */
export interface LeaseSource {
  /**
   * Takes up to `want` tokens from the shared bucket `key` of `limit` (refilled at limit.perSecond, size
   * limit.burst). Resolves with the tokens granted (0-want) and, when the bucket is empty, the ms until its next
   * token. Rejects when the store is unreachable, slow (its own timeout) or errs.
   */
  lease(limit: CompiledRateLimit, key: string, want: number): Promise<{ granted: number; waitMs: number }>;
}

export interface RateLimiterOptions {
  /** Monotonic milliseconds. */
  readonly now: () => number;
  /** The shared store of global limits; absent: every global limit runs on its fallback as if Redis were down. */
  readonly leases?: LeaseSource;
  /**
   * A lease is `perSecond × max(leaseWindowMs, 2 × the smoothed lease round trip) / 1000` tokens (at least 1, at
   * most burst). Default 50 ms; range 1-1000.
   */
  readonly leaseWindowMs?: number;
  /** Leased tokens unspent after this long are dropped, so old leases never add a burst. Default 1000 ms. */
  readonly leaseTtlMs?: number;
  /** After a failed lease, how long global limits stay on their fallback before Redis is tried again. Default 1000 ms. */
  readonly retryMs?: number;
  /** Buckets kept per limit (distinct descriptor values); the oldest is dropped beyond it. Default 10000. */
  readonly maxKeysPerLimit?: number;
  /** Called with every failed lease (log + metric, rate-limited by the caller). */
  readonly onLeaseError?: (err: unknown, limit: CompiledRateLimit) => void;
  /** Called when a lease succeeds after a failure (Redis is back). */
  readonly onRecovered?: () => void;
}

/** How one limit decided one call. `source`: which bucket decided. */
export interface LimitDecision {
  readonly limit: CompiledRateLimit;
  readonly decision: 'admitted' | 'rejected' | 'shadow_rejected';
  readonly source: 'local' | 'global' | 'fallback' | 'unavailable';
}

/** The decision for one call against all its limits. */
export interface RateDecision {
  /** One entry per limit checked, in policy order. */
  readonly limits: readonly LimitDecision[];
  /** The enforce limit that rejected the call; undefined when admitted. */
  readonly rejectedBy: LimitDecision | undefined;
  /** For a rejection: ms until the rejecting bucket has a token again (a retry hint; 0 if unknown). */
  readonly retryAfterMs: number;
}

export interface RateLimiter {
  /** Decides one call against `limits` (those matching it); sync when no lease must be fetched. */
  check(limits: readonly CompiledRateLimit[], call: CallAttributes): RateDecision | Promise<RateDecision>;
  /** Drops the buckets of limits whose signature is not in `keep` (after a reload). */
  retain(keep: readonly CompiledRateLimit[]): void;
  /** Whether global limits currently run on their fallback (Redis failed within `retryMs`). */
  degraded(): boolean;
}

interface GlobalBucket {
  tokens: number;
  leasedAt: number;
  /** The shared bucket is empty until then (from the lease's waitMs): no fetch before it. */
  emptyUntil: number;
  inflight: Promise<void> | undefined;
  fallback: TokenBucket | undefined;
  /** Calls waiting for a lease of this bucket now: a lease asks for at least that many tokens. */
  waiting: number;
}

interface LimitState {
  readonly local: Map<string, TokenBucket>;
  readonly global: Map<string, GlobalBucket>;
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { now, leases } = options;
  const leaseWindowMs = options.leaseWindowMs ?? 50;
  const leaseTtlMs = options.leaseTtlMs ?? 1000;
  const retryMs = options.retryMs ?? 1000;
  const maxKeys = options.maxKeysPerLimit ?? 10_000;
  const states = new Map<string, LimitState>();
  // After a failed lease (`failed`), Redis is next probed at `downUntil` (monotonic ms).
  let downUntil = -Infinity;
  let failed = false;

  const stateOf = (limit: CompiledRateLimit): LimitState => {
    let s = states.get(limit.signature);
    if (s === undefined) states.set(limit.signature, (s = { local: new Map(), global: new Map() }));
    return s;
  };
  const newBucket = (limit: CompiledRateLimit) => createTokenBucket({ capacity: limit.burst, refillPerSecond: limit.perSecond, now });
  const bounded = <V>(map: Map<string, V>, key: string, make: () => V): V => {
    let v = map.get(key);
    if (v === undefined) {
      if (map.size >= maxKeys) map.delete(map.keys().next().value as string);
      map.set(key, (v = make()));
    }
    return v;
  };
  // Smoothed lease round trip (ms). A lease covers max(leaseWindowMs, 2 × RTT) of the rate: with a slow Redis (or a
  // busy sidecar) a lease of 50 ms would run out long before the next one arrives and the sidecar would admit less
  // than its share.
  let rttMs = 0;
  const leaseSize = (limit: CompiledRateLimit) =>
    Math.min(limit.burst, Math.max(1, Math.ceil((limit.perSecond * Math.max(leaseWindowMs, 2 * rttMs)) / 1000)));
  const redisUp = () => leases !== undefined && !failed;

  const fetch = (limit: CompiledRateLimit, key: string, g: GlobalBucket): Promise<void> => {
    if (g.inflight !== undefined) return g.inflight;
    const source = leases as LeaseSource;
    const sent = now();
    const want = Math.min(limit.burst, Math.max(leaseSize(limit), g.waiting));
    const p = source.lease(limit, key, want).then(
      ({ granted, waitMs }) => {
        const t = now();
        rttMs = rttMs === 0 ? t - sent : rttMs + 0.2 * (t - sent - rttMs);
        if (expired(g, t)) g.tokens = 0;
        g.tokens += granted;
        g.leasedAt = t;
        g.emptyUntil = granted === 0 ? t + Math.max(1, waitMs) : -Infinity;
        if (failed) {
          failed = false;
          downUntil = -Infinity;
          options.onRecovered?.();
        }
      },
      (err: unknown) => {
        failed = true;
        downUntil = now() + retryMs;
        options.onLeaseError?.(err, limit);
      },
    );
    g.inflight = p.finally(() => {
      g.inflight = undefined;
    });
    return g.inflight;
  };
  const expired = (g: GlobalBucket, t: number) => t - g.leasedAt > leaseTtlMs;

  /** Can `limit` admit the call now (without taking)? And with which source. */
  const peek = (limit: CompiledRateLimit, bucket: TokenBucket | GlobalBucket): { ok: boolean; source: LimitDecision['source'] } => {
    if (limit.scope === 'local') return { ok: (bucket as TokenBucket).available() >= 1 - 1e-9, source: 'local' };
    const g = bucket as GlobalBucket;
    const t = now();
    if (g.tokens > 0 && expired(g, t)) g.tokens = 0;
    if (g.tokens >= 1) return { ok: true, source: 'global' };
    if (redisUp()) return { ok: false, source: 'global' };
    if (limit.failureMode === 'closed') return { ok: false, source: 'unavailable' };
    g.fallback ??= newBucket(limit);
    return { ok: g.fallback.available() >= 1 - 1e-9, source: 'fallback' };
  };

  const decide = (limits: readonly CompiledRateLimit[], buckets: (TokenBucket | GlobalBucket)[], keys: string[]): RateDecision => {
    const out: LimitDecision[] = [];
    let rejectedBy: LimitDecision | undefined;
    let retryAfterMs = 0;
    const sources: LimitDecision['source'][] = [];
    for (let i = 0; i < limits.length; i++) {
      const limit = limits[i] as CompiledRateLimit;
      const { ok, source } = peek(limit, buckets[i] as TokenBucket | GlobalBucket);
      sources.push(source);
      const d: LimitDecision = { limit, source, decision: ok ? 'admitted' : limit.mode === 'shadow' ? 'shadow_rejected' : 'rejected' };
      out.push(d);
      if (d.decision === 'rejected' && rejectedBy === undefined) {
        rejectedBy = d;
        retryAfterMs = waitOf(limit, buckets[i] as TokenBucket | GlobalBucket, source);
      }
    }
    if (rejectedBy !== undefined) return { limits: out, rejectedBy, retryAfterMs };
    for (let i = 0; i < limits.length; i++) {
      if ((out[i] as LimitDecision).decision !== 'admitted') continue;
      const limit = limits[i] as CompiledRateLimit;
      const b = buckets[i] as TokenBucket | GlobalBucket;
      const source = sources[i];
      if (source === 'local') (b as TokenBucket).tryTake(1);
      else if (source === 'fallback') (b as GlobalBucket).fallback?.tryTake(1);
      else {
        const g = b as GlobalBucket;
        g.tokens -= 1;
        // Half the lease spent: fetch the next one in the background, so steady traffic rarely waits. Not for
        // one-token leases (slow limits): a prefetched token unspent for leaseTtlMs would be dropped, wasted.
        const size = leaseSize(limit);
        if (size > 1 && g.tokens <= size / 2 && g.inflight === undefined && now() >= g.emptyUntil && redisUp()) {
          void fetch(limit, keys[i] as string, g);
        }
      }
    }
    return { limits: out, rejectedBy: undefined, retryAfterMs: 0 };
  };

  const waitOf = (limit: CompiledRateLimit, b: TokenBucket | GlobalBucket, source: LimitDecision['source']): number => {
    if (source === 'local') return (b as TokenBucket).msUntilAvailable(1);
    if (source === 'fallback') return (b as GlobalBucket).fallback?.msUntilAvailable(1) ?? 0;
    if (source === 'unavailable') return retryMs;
    const g = b as GlobalBucket;
    const wait = g.emptyUntil - now();
    return wait > 0 ? Math.ceil(wait) : Math.ceil(1000 / limit.perSecond);
  };

  /**
   * Waits for leases of the global buckets in `waiting` (none holds a token), then decides. Calls that arrive
   * together share one fetch; a call it left without a token (others took them) fetches once more, for as many
   * tokens as calls still wait, so concurrent calls are admitted up to the burst, not up to the first lease. At
   * most two round trips, and none after a failed one.
   */
  const decideAfterLeases = async (limits: readonly CompiledRateLimit[], buckets: (TokenBucket | GlobalBucket)[], keys: string[], waiting: GlobalBucket[]): Promise<RateDecision> => {
    for (const g of waiting) g.waiting++;
    try {
      for (let round = 0; round < 2; round++) {
        const fetches: Promise<void>[] = [];
        for (let i = 0; i < limits.length; i++) {
          const g = buckets[i] as GlobalBucket;
          if (!waiting.includes(g) || g.tokens >= 1 || failed || now() < g.emptyUntil) continue;
          fetches.push(fetch(limits[i] as CompiledRateLimit, keys[i] as string, g));
        }
        if (fetches.length === 0) break;
        await Promise.all(fetches);
        const d = decide(limits, buckets, keys);
        // Admitted, or rejected by something another round trip cannot change: done.
        if (d.rejectedBy === undefined || round === 1) return d;
        const g = buckets[limits.indexOf(d.rejectedBy.limit)] as GlobalBucket;
        if (d.rejectedBy.source !== 'global' || !waiting.includes(g) || failed || now() < g.emptyUntil) return d;
      }
      return decide(limits, buckets, keys);
    } finally {
      for (const g of waiting) g.waiting--;
    }
  };

  return {
    check(limits, call) {
      if (limits.length === 0) return { limits: [], rejectedBy: undefined, retryAfterMs: 0 };
      const buckets: (TokenBucket | GlobalBucket)[] = [];
      const keys: string[] = [];
      let waiting: GlobalBucket[] | undefined;
      for (const limit of limits) {
        const key = descriptorKey(limit.by, call, limit.callerHeader);
        keys.push(key);
        const s = stateOf(limit);
        if (limit.scope === 'local') {
          buckets.push(bounded(s.local, key, () => newBucket(limit)));
          continue;
        }
        const g = bounded(s.global, key, (): GlobalBucket => ({ tokens: 0, leasedAt: 0, emptyUntil: -Infinity, inflight: undefined, fallback: undefined, waiting: 0 }));
        buckets.push(g);
        const t = now();
        if (g.tokens > 0 && expired(g, t)) g.tokens = 0;
        if (g.tokens >= 1 || leases === undefined) continue;
        if (!failed) {
          if (t >= g.emptyUntil) (waiting ??= []).push(g);
        } else if (t >= downUntil) {
          // The retry period is over: probe Redis in the background; this call still uses the fallback.
          downUntil = t + retryMs;
          void fetch(limit, key, g);
        }
      }
      if (waiting === undefined) return decide(limits, buckets, keys);
      return decideAfterLeases(limits, buckets, keys, waiting);
    },
    retain(keep) {
      const signatures = new Set(keep.map((l) => l.signature));
      for (const k of [...states.keys()]) if (!signatures.has(k)) states.delete(k);
    },
    degraded: () => failed,
  };
}
