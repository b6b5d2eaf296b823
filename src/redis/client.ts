// SPDX-License-Identifier: Apache-2.0
// The Redis client of global rate limits (bootstrap `redis`), ioredis underneath. Built so that no call waits on
// Redis longer than `commandTimeoutMs`: commands fail at once while disconnected (no offline queue, no per-command
// retries), time out after commandTimeoutMs, and the connection reconnects by itself in the background (100 ms
// doubling to 2 s) so global limiting resumes when Redis returns.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/redis-schema.js';

export interface RedisClientEvents {
  /** The connection is up (first time or again). */
  onReady?: () => void;
  /** The connection failed or closed; `err` when there was one. */
  onDown?: (err: Error | undefined) => void;
}

/** host, port and TLS from `redis.address` (`host:port`, `redis://`, `rediss://`). */
export function parseRedisAddress(address: string): { host: string; port: number; tls: boolean } {
  const tls = address.startsWith('rediss://');
  const rest = address.replace(/^rediss?:\/\//, '');
  const colon = rest.lastIndexOf(':');
  const host = rest.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(rest.slice(colon + 1)), tls };
}

/** The ioredis options for `config` (reads the TLS files). */
export function redisOptions(config: RedisConfig): RedisOptions {
  const { host, port, tls } = parseRedisAddress(config.address);
  const t = config.tls;
  return {
    host,
    port,
    ...(config.username !== undefined ? { username: config.username } : {}),
    ...(config.password !== undefined ? { password: config.password } : {}),
    ...(tls || t !== undefined
      ? {
          tls: {
            ...(t?.caFile !== undefined ? { ca: readFileSync(t.caFile) } : {}),
            ...(t?.certFile !== undefined ? { cert: readFileSync(t.certFile) } : {}),
            ...(t?.keyFile !== undefined ? { key: readFileSync(t.keyFile) } : {}),
            // SNI is a host name (RFC 6066): for an IP address none is sent, and node checks the certificate's IP SANs.
            ...(t?.serverName !== undefined ? { servername: t.serverName } : isIP(host) === 0 ? { servername: host } : {}),
          },
        }
      : {}),
    connectTimeout: config.connectTimeoutMs,
    commandTimeout: config.commandTimeoutMs,
    // A call never queues behind a dead connection: commands fail at once while it is down.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResubscribe: false,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times - 1, 5), 2000),
  };
}

/** Creates the client and starts connecting (never throws for an unreachable server: `onDown` says so). */
export function createRedisClient(config: RedisConfig, events: RedisClientEvents = {}): Redis {
  const redis = new Redis(redisOptions(config));
  let up = false;
  redis.on('ready', () => {
    up = true;
    events.onReady?.();
  });
  redis.on('error', (err: Error) => {
    up = false;
    events.onDown?.(err);
  });
  redis.on('close', () => {
    if (up) events.onDown?.(undefined);
    up = false;
  });
  return redis;
}
