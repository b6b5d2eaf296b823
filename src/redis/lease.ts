// SPDX-License-Identifier: Apache-2.0
// The shared token bucket of a global rate limit, in Redis: one Lua script refills the bucket from Redis' own
// clock (so sidecars' clocks never matter), grants up to the tokens asked for, and says how long until the next
// token when it is empty. One EVALSHA per lease (ioredis loads the script on NOSCRIPT); the limiter
// (src/ratelimit/limiter.ts) asks for a lease only every few calls.

import type { Redis } from 'ioredis';
import type { CompiledRateLimit } from '../ratelimit/compile.js';
import type { LeaseSource } from '../ratelimit/limiter.js';

/**
 * KEYS[1] the bucket (a hash: tokens, ts). ARGV: rate (tokens per ms), burst, tokens wanted.
 * Returns {granted, waitMs}. The key expires once a full bucket would have refilled (+1 s), so idle descriptor
 * values leave nothing behind. TIME in a script is allowed since Redis 5 (effects replication; the default in 7).
 */
export const LEASE_SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(s[1])
local ts = tonumber(s[2])
if tokens == nil or ts == nil then
  tokens = burst
elseif now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
end
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
local waitMs = 0
if tokens < 1 then waitMs = math.ceil((1 - tokens) / rate) end
return {granted, waitMs}
`;

type WithLease = Redis & { meshletLease(key: string, rate: string, burst: string, want: string): Promise<[number, number]> };

/** The Redis key of a limit's bucket: `<prefix><limit name>:<descriptor values, URI-encoded>`. */
export function bucketKey(prefix: string, limit: CompiledRateLimit, descriptorKey: string): string {
  return `${prefix}${limit.name}:${descriptorKey.split('\u0000').map(encodeURIComponent).join(':')}`;
}

/** A LeaseSource over `redis` (whose command timeout bounds every lease). */
export function redisLeaseSource(redis: Redis, keyPrefix: string): LeaseSource {
  const r = redis as WithLease;
  if (typeof r.meshletLease !== 'function') r.defineCommand('meshletLease', { numberOfKeys: 1, lua: LEASE_SCRIPT });
  return {
    async lease(limit, key, want) {
      const [granted, waitMs] = await r.meshletLease(bucketKey(keyPrefix, limit, key), String(limit.perSecond / 1000), String(limit.burst), String(want));
      return { granted: Number(granted), waitMs: Number(waitMs) };
    },
  };
}
