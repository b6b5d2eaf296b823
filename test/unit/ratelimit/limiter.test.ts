// SPDX-License-Identifier: Apache-2.0
// The rate limiter on a manual clock: local buckets (rate, burst, per-descriptor keys), several limits per call
// (nothing taken when one rejects), shadow, global leases from a scripted lease source, its fallback and recovery.
import { describe, expect, it } from 'vitest';
import { compileLimit, CompiledRateLimits, type CompiledRateLimit } from '../../../src/ratelimit/compile.js';
import { descriptorKey, parseDescriptor } from '../../../src/ratelimit/descriptor.js';
import { createRateLimiter, type LeaseSource } from '../../../src/ratelimit/limiter.js';
import { parseRate } from '../../../src/ratelimit/rate.js';
import type { RateLimitInput } from '../../../src/ratelimit/schema.js';

function clock(start = 1000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}
const limit = (l: Partial<RateLimitInput> & { rate: string }): CompiledRateLimit => compileLimit({ name: 'l', ...l });
const call = (identity?: string, headers: Record<string, string> = {}, path = '/a.v1.A/Get') => ({ path, identity, headers });
const sync = <T>(v: T | Promise<T>): T => {
  if (v instanceof Promise) throw new Error('expected a synchronous decision');
  return v;
};

describe('parseRate', () => {
  it('parses per second, minute and hour', () => {
    expect(parseRate('100/s')?.perSecond).toBe(100);
    expect(parseRate('60/m')?.perSecond).toBe(1);
    expect(parseRate('36/h')?.perSecond).toBeCloseTo(0.01);
    expect(parseRate('100/x')).toBeUndefined();
    expect(parseRate('0/s')).toBeUndefined();
  });
});

describe('descriptorKey', () => {
  const by = (...d: string[]) => d.map(parseDescriptor);
  it('keys by the mTLS identity first, then the caller header, else one shared bucket', () => {
    expect(descriptorKey(by('caller'), call('spiffe://td/ns/a/sa/x', { 'x-caller': 'b' }), 'x-caller')).toBe('spiffe://td/ns/a/sa/x');
    expect(descriptorKey(by('caller'), call(undefined, { 'x-caller': 'b' }), 'x-caller')).toBe('b');
    expect(descriptorKey(by('caller'), call(undefined, {}), 'x-caller')).toBe('-');
  });
  it('keys by method and header, and by nothing', () => {
    expect(descriptorKey(by('method', 'header:x-tenant'), call(undefined, { 'x-tenant': 't1' }), undefined)).toBe('/a.v1.A/Get\u0000t1');
    expect(descriptorKey([], call(), undefined)).toBe('');
  });
  it('cuts long header values so a key stays bounded', () => {
    expect(descriptorKey(by('header:x-t'), call(undefined, { 'x-t': 'v'.repeat(5000) }), undefined)).toHaveLength(256);
  });
});

describe('CompiledRateLimits.matching', () => {
  it('matches by direction, backend and method pattern, and drops mode off', () => {
    const c = new CompiledRateLimits([
      { name: 'in', rate: '1/s', match: { method: 'a.v1.A/*' } },
      { name: 'out', rate: '1/s', direction: 'outbound', match: { backend: 'users' } },
      { name: 'off', rate: '1/s', mode: 'off' },
    ]);
    expect(c.matching('inbound', undefined, '/a.v1.A/Get').map((l) => l.name)).toEqual(['in']);
    expect(c.matching('inbound', undefined, '/b.v1.B/Get').map((l) => l.name)).toEqual([]);
    expect(c.matching('outbound', 'users', '/b.v1.B/Get').map((l) => l.name)).toEqual(['out']);
    expect(c.matching('outbound', 'orders', '/b.v1.B/Get').map((l) => l.name)).toEqual([]);
  });
  it('defaults the burst to the count of the rate', () => {
    expect(limit({ rate: '100/s' }).burst).toBe(100);
    expect(limit({ rate: '100/s', burst: 5 }).burst).toBe(5);
  });
});

describe('local limits', () => {
  it('admits a burst of its size, then one call per 1/rate', () => {
    const c = clock();
    const rl = createRateLimiter({ now: c.now });
    const l = [limit({ rate: '10/s', burst: 3 })];
    const admitted = () => sync(rl.check(l, call())).rejectedBy === undefined;
    expect([admitted(), admitted(), admitted(), admitted()]).toEqual([true, true, true, false]);
    const d = sync(rl.check(l, call()));
    expect(d.rejectedBy?.decision).toBe('rejected');
    expect(d.retryAfterMs).toBe(100);
    c.advance(100);
    expect(admitted()).toBe(true);
    expect(admitted()).toBe(false);
  });

  it('keeps one bucket per caller: a noisy caller does not spend another caller\'s tokens', () => {
    const c = clock();
    const rl = createRateLimiter({ now: c.now });
    const l = [limit({ rate: '10/s', burst: 2, by: ['caller'] })];
    for (let i = 0; i < 50; i++) rl.check(l, call('spiffe://td/noisy'));
    expect(sync(rl.check(l, call('spiffe://td/quiet'))).rejectedBy).toBeUndefined();
    expect(sync(rl.check(l, call('spiffe://td/noisy'))).rejectedBy).toBeDefined();
  });

  it('takes nothing from any limit when a later one rejects', () => {
    const c = clock();
    const rl = createRateLimiter({ now: c.now });
    const wide = limit({ name: 'wide', rate: '10/s', burst: 2 });
    const narrow = limit({ name: 'narrow', rate: '1/s', burst: 1, by: ['header:x-t'] });
    expect(sync(rl.check([wide, narrow], call(undefined, { 'x-t': 'a' }))).rejectedBy).toBeUndefined();
    // narrow rejects tenant a: wide must keep its last token for tenant b.
    expect(sync(rl.check([wide, narrow], call(undefined, { 'x-t': 'a' }))).rejectedBy?.limit.name).toBe('narrow');
    expect(sync(rl.check([wide, narrow], call(undefined, { 'x-t': 'b' }))).rejectedBy).toBeUndefined();
    expect(sync(rl.check([wide, narrow], call(undefined, { 'x-t': 'c' }))).rejectedBy?.limit.name).toBe('wide');
  });

  it('shadow: reports shadow_rejected and admits, taking nothing', () => {
    const c = clock();
    const rl = createRateLimiter({ now: c.now });
    const l = [limit({ rate: '1/s', burst: 1, mode: 'shadow' })];
    expect(sync(rl.check(l, call())).limits[0]?.decision).toBe('admitted');
    const d = sync(rl.check(l, call()));
    expect(d.rejectedBy).toBeUndefined();
    expect(d.limits[0]?.decision).toBe('shadow_rejected');
  });

  it('keeps bucket state across a reload that keeps the limit, drops it when the rate changes', () => {
    const c = clock();
    const rl = createRateLimiter({ now: c.now });
    const a = limit({ rate: '1/s', burst: 1 });
    rl.check([a], call());
    const same = limit({ rate: '1/s', burst: 1 });
    rl.retain([same]);
    expect(sync(rl.check([same], call())).rejectedBy).toBeDefined();
    const faster = limit({ rate: '5/s', burst: 1 });
    rl.retain([faster]);
    expect(sync(rl.check([faster], call())).rejectedBy).toBeUndefined();
  });

  it('bounds the buckets per limit', () => {
    const c = clock();
    const rl = createRateLimiter({ now: c.now, maxKeysPerLimit: 2 });
    const l = [limit({ rate: '1/s', burst: 1, by: ['header:x-t'] })];
    for (const t of ['a', 'b', 'c']) rl.check(l, call(undefined, { 'x-t': t }));
    // a was evicted (oldest): it starts full again.
    expect(sync(rl.check(l, call(undefined, { 'x-t': 'a' }))).rejectedBy).toBeUndefined();
  });
});

/** A shared token bucket on the same manual clock, as Redis would hold it, with scripted failures. */
function scriptedSource(now: () => number) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const s = {
    calls: 0,
    failing: false,
    lease(l: CompiledRateLimit, key: string, want: number) {
      s.calls++;
      if (s.failing) return Promise.reject(new Error('connection refused'));
      const k = `${l.name}:${key}`;
      const b = buckets.get(k) ?? { tokens: l.burst, at: now() };
      b.tokens = Math.min(l.burst, b.tokens + ((now() - b.at) * l.perSecond) / 1000);
      b.at = now();
      const granted = Math.min(want, Math.floor(b.tokens));
      b.tokens -= granted;
      buckets.set(k, b);
      return Promise.resolve({ granted, waitMs: granted === 0 ? Math.ceil(((1 - b.tokens) * 1000) / l.perSecond) : 0 });
    },
  };
  return s as typeof s & LeaseSource;
}

describe('global limits', () => {
  it('leases rate × 50 ms tokens at a time, so most calls make no round trip', async () => {
    const c = clock();
    const src = scriptedSource(c.now);
    const rl = createRateLimiter({ now: c.now, leases: src });
    const l = [limit({ rate: '200/s', burst: 200, scope: 'global' })];
    let admitted = 0;
    for (let i = 0; i < 100; i++) if ((await rl.check(l, call())).rejectedBy === undefined) admitted++;
    expect(admitted).toBe(100);
    // lease = 10 tokens; prefetch at half: ~10 leases for 100 calls, not 100 round trips.
    expect(src.calls).toBeLessThanOrEqual(11);
  });

  it('two limiters sharing one source admit the shared rate, not twice it', async () => {
    const c = clock();
    const src = scriptedSource(c.now);
    const a = createRateLimiter({ now: c.now, leases: src });
    const b = createRateLimiter({ now: c.now, leases: src });
    const l = [limit({ rate: '100/s', burst: 10, scope: 'global' })];
    let admitted = 0;
    // 10 s at 1000 calls/s offered to each (one every ms), 10 ms of simulated time per step.
    for (let ms = 0; ms < 10_000; ms += 1) {
      for (const rl of [a, b]) if ((await rl.check(l, call())).rejectedBy === undefined) admitted++;
      c.advance(1);
    }
    expect(admitted).toBeGreaterThanOrEqual(1000 * 0.95);
    expect(admitted).toBeLessThanOrEqual(1010 * 1.05);
  });

  it('falls back to a local bucket when the source fails (open), then recovers', async () => {
    const c = clock();
    const src = scriptedSource(c.now);
    const errors: unknown[] = [];
    let recovered = 0;
    const rl = createRateLimiter({ now: c.now, leases: src, retryMs: 1000, onLeaseError: (e) => errors.push(e), onRecovered: () => recovered++ });
    const l = [limit({ rate: '10/s', burst: 2, scope: 'global' })];
    src.failing = true;
    const first = await rl.check(l, call());
    expect(first.limits[0]?.source).toBe('fallback');
    expect(first.rejectedBy).toBeUndefined();
    expect(rl.degraded()).toBe(true);
    // Within the retry period no call touches the source and none waits.
    const before = src.calls;
    expect(sync(rl.check(l, call())).limits[0]?.source).toBe('fallback');
    expect(sync(rl.check(l, call())).rejectedBy?.source).toBe('fallback');
    expect(src.calls).toBe(before);
    src.failing = false;
    c.advance(1000);
    // The probe runs in the background; the call itself is decided by the fallback.
    const probe = rl.check(l, call());
    expect(sync(probe).limits[0]?.source).toBe('fallback');
    await Promise.resolve();
    await Promise.resolve();
    expect(recovered).toBe(1);
    expect(rl.degraded()).toBe(false);
    expect((await rl.check(l, call())).limits[0]?.source).toBe('global');
    expect(errors).toHaveLength(1);
  });

  it('failureMode closed rejects as unavailable while the source fails', async () => {
    const c = clock();
    const src = scriptedSource(c.now);
    src.failing = true;
    const rl = createRateLimiter({ now: c.now, leases: src });
    const d = await rl.check([limit({ rate: '10/s', scope: 'global', failureMode: 'closed' })], call());
    expect(d.rejectedBy?.source).toBe('unavailable');
  });

  it('does not ask the source again while it said the bucket is empty', async () => {
    const c = clock();
    const src = scriptedSource(c.now);
    const rl = createRateLimiter({ now: c.now, leases: src });
    const l = [limit({ rate: '1/s', burst: 1, scope: 'global' })];
    expect((await rl.check(l, call())).rejectedBy).toBeUndefined();
    const calls = src.calls;
    const d = await rl.check(l, call());
    expect(d.rejectedBy).toBeDefined();
    expect(d.retryAfterMs).toBeGreaterThan(0);
    const after = src.calls;
    expect(after).toBeLessThanOrEqual(calls + 1);
    for (let i = 0; i < 20; i++) expect(sync(rl.check(l, call())).rejectedBy).toBeDefined();
    expect(src.calls).toBe(after);
  });
});

describe('global limits with slow rates', () => {
  it('leases one token at a time without prefetching, so sparse calls waste no token of the shared bucket', async () => {
    const c = clock();
    const src = scriptedSource(c.now);
    const rl = createRateLimiter({ now: c.now, leases: src });
    const l = [limit({ rate: '60/m', burst: 3, scope: 'global' })];
    // Calls 2 s apart (beyond the lease TTL): each spends exactly one shared token.
    let admitted = 0;
    for (let i = 0; i < 5; i++) {
      if ((await rl.check(l, call())).rejectedBy === undefined) admitted++;
      c.advance(2000);
    }
    expect(admitted).toBe(5);
    expect(src.calls).toBe(5);
  });
});

describe('global limits under concurrent calls', () => {
  it('admits concurrent calls up to the burst, though they share one-token leases', async () => {
    const c = clock();
    const src = scriptedSource(c.now);
    const rl = createRateLimiter({ now: c.now, leases: src });
    const l = [limit({ rate: '1/m', burst: 3, scope: 'global' })];
    const ds = await Promise.all(Array.from({ length: 5 }, () => rl.check(l, call())));
    expect(ds.filter((d) => d.rejectedBy === undefined)).toHaveLength(3);
    // Two round trips at most: the first lease (1 token), then one for the callers still waiting.
    expect(src.calls).toBe(2);
  });
});
