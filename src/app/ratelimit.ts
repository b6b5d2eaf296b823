// SPDX-License-Identifier: Apache-2.0
// Composition root, rate-limit area: the limiter both chains share (src/ratelimit/limiter.ts) and, when the
// bootstrap has `redis`, the Redis client its global limits lease from. Redis trouble never stops the sidecar: it
// is a warning (at most one per 10 s), meshlet_ratelimit_redis_errors_total and meshlet_ratelimit_redis_up, and
// /ready stays green (global limits run on their fallback meanwhile).

import type { Redis } from 'ioredis';
import type { BootstrapConfig } from '../config/schema.js';
import type { PolicyStore } from '../policy/store.js';
import type { Policy } from '../policy/schema.js';
import { createRateLimiter, type RateLimiter } from '../ratelimit/limiter.js';
import { redisLeaseSource } from '../redis/lease.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

export interface AppRateLimit {
  readonly limiter: RateLimiter;
  /** What the rate-limit layers take (besides their logger). */
  readonly layer: { readonly policy: PolicyStore; readonly limiter: RateLimiter; readonly metrics: Metrics['ratelimit']; readonly maxMethods: number };
  /** The Redis client, when `redis` is configured. */
  readonly redis: Redis | undefined;
  /** Stop hook: closes the Redis connection. */
  close(): void;
}

/** One warning per this many ms at most for Redis trouble; the rest are folded into the next line's count. */
const LOG_INTERVAL_MS = 10_000;

/**
 * Builds the limiter, and the Redis client when the bootstrap has `redis`. The client module (ioredis) is loaded
 * only then: merely loading ioredis made the proxy spend 1.6-2.3x the CPU per call at peak and hold +25 MiB RSS in
 * a same-run bench (docs/decisions.md §14), so a sidecar without global limits never loads it.
 */
export async function createRateLimit(
  config: BootstrapConfig,
  deps: { log: Logger; metrics: Metrics; policy: PolicyStore; maxMethods: number },
): Promise<AppRateLimit> {
  const log = deps.log.child({ component: 'ratelimit' });
  const m = deps.metrics.ratelimit;
  let lastWarn = -Infinity;
  let folded = 0;
  const warn = (fields: Record<string, unknown>, msg: string) => {
    const t = performance.now();
    if (t - lastWarn < LOG_INTERVAL_MS) {
      folded++;
      return;
    }
    lastWarn = t;
    log.warn({ ...fields, folded }, msg);
    folded = 0;
  };
  const cfg = config.redis;
  let everUp = false;
  const redis =
    cfg === undefined
      ? undefined
      : (await import('../redis/client.js')).createRedisClient(cfg, {
          onReady: () => {
            everUp = true;
            m.redisUp.set(1);
            log.info({ redis: cfg.address }, 'redis connected: global rate limits lease from it');
          },
          onDown: (err) => {
            m.redisUp.set(0);
            warn(
              { redis: cfg.address, err: err?.message },
              everUp
                ? 'redis connection lost: global rate limits use their fallback until it is back'
                : `redis unreachable at ${cfg.address}: global rate limits use their fallback (failureMode) until it answers`,
            );
          },
        });
  const limiter = createRateLimiter({
    now: () => performance.now(),
    ...(redis !== undefined && cfg !== undefined ? { leases: redisLeaseSource(redis, `${cfg.keyPrefix}${config.service.name}:`) } : {}),
    onLeaseError: (err, limit) => {
      const message = err instanceof Error ? err.message : String(err);
      const reason = /timed out/i.test(message) ? 'timeout' : /writeable|ECONNREFUSED|ECONNRESET|connect|closed/i.test(message) ? 'connection' : 'error';
      m.redisErrors.inc({ reason });
      m.redisUp.set(0);
      warn({ limit: limit.name, reason, err: message }, `redis lease failed (${reason}): global rate limits use their fallback for 1 s, then retry`);
    },
    onRecovered: () => {
      m.redisUp.set(1);
      log.info('redis leases work again: global rate limits are shared again');
    },
  });
  // 0 until the first connection is ready (and whenever leases fail); 1 while they work.
  m.redisUp.set(0);
  const checkGlobal = (policy: Policy) => {
    const global = (policy.rateLimits ?? []).filter((l) => l.scope === 'global' && l.mode !== 'off').map((l) => l.name);
    if (global.length > 0 && cfg === undefined) {
      log.warn({ limits: global }, 'global rate limits without a `redis` section: each sidecar enforces them locally (their fallback)');
    }
  };
  checkGlobal(deps.policy.current().policy);
  deps.policy.onSwap((next) => checkGlobal(next.policy));
  return {
    limiter,
    layer: { policy: deps.policy, limiter, metrics: m, maxMethods: deps.maxMethods },
    redis,
    close: () => redis?.disconnect(),
  };
}
