// SPDX-License-Identifier: Apache-2.0
// Evidence for docs/decisions.md §14 "Rate limits: our own token bucket and Redis leases, not rate-limiter-flexible's
// limiters" (issue 15). Each assertion pins a rate-limiter-flexible 11.4.0 behaviour the decision rests on (against
// a real redis-server for the Redis one); if one fails after an upgrade, re-read that section.
import { Redis } from 'ioredis';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { compileLimit } from '../../src/ratelimit/compile.js';
import { createRateLimiter } from '../../src/ratelimit/limiter.js';
import { createTokenBucket } from '../../src/ratelimit/token-bucket.js';
import { redisLeaseSource } from '../../src/redis/lease.js';
import { startRedis } from '../helpers/redis.js';

const server = await startRedis();
const redis = new Redis({ host: '127.0.0.1', port: server.port, enableOfflineQueue: true, maxRetriesPerRequest: 1 });
afterAll(() => redis.disconnect());

afterEach(() => {
  vi.useRealTimers();
});

/** Admitted of `n` consumes, all at the current (fake) time. */
async function admitted(consume: () => Promise<unknown>, n: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    await consume().then(
      () => ok++,
      () => undefined,
    );
  }
  return ok;
}

/** Script calls Redis has run so far (EVALSHA + EVAL: what both limiters send per round trip). */
function scriptCalls(): number {
  const stats = server.cli('INFO', 'commandstats');
  const calls = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  return calls('evalsha') + calls('eval');
}

describe('rate-limiter-flexible 11.4.0', () => {
  it('RateLimiterMemory is a fixed window: a 100/s limit admits 200 within 2 ms at a window edge', async () => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
    const rl = new RateLimiterMemory({ points: 100, duration: 1 });
    await rl.consume('k'); // opens the window [0, 1000)
    vi.setSystemTime(999);
    const late = await admitted(() => rl.consume('k'), 150);
    vi.setSystemTime(1001);
    const early = await admitted(() => rl.consume('k'), 150);
    expect(1 + late + early).toBe(200);

    // The token bucket (rate 100/s, burst 20) at the same instants: at most the burst plus 2 ms of refill.
    let t = 0;
    const bucket = createTokenBucket({ capacity: 20, refillPerSecond: 100, now: () => t });
    bucket.tryTake();
    t = 999;
    let ok = 0;
    for (let i = 0; i < 150; i++) if (bucket.tryTake()) ok++;
    t = 1001;
    for (let i = 0; i < 150; i++) if (bucket.tryTake()) ok++;
    expect(ok).toBeLessThanOrEqual(20);
  });

  it('cannot express "100/s burst 20": the burst of a fixed window is always its points, and BurstyRateLimiter only adds a second window', async () => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
    const plain = new RateLimiterMemory({ points: 100, duration: 1 });
    expect(await admitted(() => plain.consume('k'), 150)).toBe(100);
    // Bursty: 20/s main window + 20 per 10 s extra: 40 at once, then the extra is gone for 10 s.
    const bursty = new BurstyRateLimiter(new RateLimiterMemory({ points: 20, duration: 1 }), new RateLimiterMemory({ keyPrefix: 'burst', points: 20, duration: 10 }));
    expect(await admitted(() => bursty.consume('k'), 100)).toBe(40);
  });

  it('RateLimiterRedis makes one Redis round trip per consume; our leases make one per lease (rate × max(50 ms, 2 RTT))', async () => {
    const rl = new RateLimiterRedis({ storeClient: redis, keyPrefix: 'rlf', points: 1000, duration: 1 });
    await rl.consume('warm');
    const before = scriptCalls();
    for (let i = 0; i < 200; i++) await rl.consume('k');
    expect(scriptCalls() - before).toBe(200);

    const limiter = createRateLimiter({ now: () => performance.now(), leases: redisLeaseSource(redis, 'ours:') });
    const limit = [compileLimit({ name: 'k', rate: '1000/s', burst: 1000, scope: 'global' })];
    await limiter.check(limit, { path: '/a.B/C', identity: undefined, headers: {} });
    const start = scriptCalls();
    for (let i = 0; i < 200; i++) await limiter.check(limit, { path: '/a.B/C', identity: undefined, headers: {} });
    const leases = scriptCalls() - start;
    // 200 calls at 1000/s in leases of >= 50 tokens: a handful of EVALSHAs (prefetch at half), not 200.
    expect(leases).toBeLessThanOrEqual(10);
  });
});
