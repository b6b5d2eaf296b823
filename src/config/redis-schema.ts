// SPDX-License-Identifier: Apache-2.0
// The `redis` section of the bootstrap (sidecar.yaml): where global rate limits (policy `rateLimits`, `scope:
// global`) keep their shared buckets. Static, like the rest of the bootstrap. Env MESHLET_REDIS_ADDRESS,
// MESHLET_REDIS_USERNAME and MESHLET_REDIS_PASSWORD override (config/env.ts).

import { z } from 'zod';

const ms = (def: number, min: number, max: number, what: string) =>
  z.number().int().min(min).max(max).default(def).describe(`${what} Milliseconds; default ${def}; range ${min}-${max}.`);

/** `host:port`, `redis://host:port` or `rediss://host:port` (TLS). */
export const REDIS_ADDRESS = /^(?:rediss?:\/\/)?(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/;

export const redisSchema = z
  .object({
    address: z
      .string()
      .regex(REDIS_ADDRESS, 'expected host:port, redis://host:port or rediss://host:port')
      .describe('The Redis server, host:port (`rediss://host:port` turns TLS on). Env MESHLET_REDIS_ADDRESS overrides and creates this section when it is absent. Required.'),
    username: z.string().min(1).optional().describe('ACL user (Redis 6+); default none (the `default` user). Env MESHLET_REDIS_USERNAME overrides.'),
    password: z.string().min(1).optional().describe('Password (of `username`, or requirepass); default none. Env MESHLET_REDIS_PASSWORD overrides. Redacted in /config.'),
    tls: z
      .object({
        caFile: z.string().optional().describe('PEM CA bundle to verify the server; default the system roots.'),
        certFile: z.string().optional().describe('PEM client certificate, when the server asks for one.'),
        keyFile: z.string().optional().describe('PEM key of certFile.'),
        serverName: z.string().optional().describe('SNI and the name verified in the certificate; default the address host.'),
      })
      .strict()
      .optional()
      .describe('TLS to Redis. Present (even `{}`), or an address starting with rediss://, turns TLS on.'),
    keyPrefix: z
      .string()
      .max(200)
      .default('meshlet:rl:')
      .describe(
        'Prefix of every key meshlet writes: `<prefix><service.name>:<limit name>:<descriptor values>`, so the sidecars ' +
          'of one service share a limit and two services never do; default `meshlet:rl:`.',
      ),
    connectTimeoutMs: ms(1000, 10, 60_000, 'TCP (and TLS) connect timeout; reconnects back off from 100 ms up to 2 s.'),
    commandTimeoutMs: ms(
      100,
      5,
      10_000,
      'The longest one lease fetch may take; a slower one fails, the calls waiting for it are decided by the ' +
        'fallback (failureMode) at once, and global limits stay on it for 1 s.',
    ),
  })
  .strict()
  .describe('Redis for global rate limits. Omit when the policy has no `scope: global` limit (they then run on their local fallback).');

export type RedisConfig = z.output<typeof redisSchema>;
