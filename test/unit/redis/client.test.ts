// SPDX-License-Identifier: Apache-2.0
// The Redis client options: address forms, credentials, TLS from rediss:// or a tls section, and the settings that
// keep a call from waiting on a dead Redis (no offline queue, no per-command retries, the command timeout).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { redisSchema } from '../../../src/config/redis-schema.js';
import { parseRedisAddress, redisOptions } from '../../../src/redis/client.js';
import { bucketKey } from '../../../src/redis/lease.js';
import { compileLimit } from '../../../src/ratelimit/compile.js';

describe('parseRedisAddress', () => {
  it('reads host:port, redis:// and rediss:// (TLS), IPv6 in brackets', () => {
    expect(parseRedisAddress('10.0.0.5:6379')).toEqual({ host: '10.0.0.5', port: 6379, tls: false });
    expect(parseRedisAddress('redis://cache.svc:6380')).toEqual({ host: 'cache.svc', port: 6380, tls: false });
    expect(parseRedisAddress('rediss://cache.svc:6380')).toEqual({ host: 'cache.svc', port: 6380, tls: true });
    expect(parseRedisAddress('[::1]:6379')).toEqual({ host: '::1', port: 6379, tls: false });
  });
});

describe('redisOptions', () => {
  it('never queues or retries a command behind a dead connection, and bounds each by commandTimeoutMs', () => {
    const o = redisOptions(redisSchema.parse({ address: '127.0.0.1:6379', username: 'meshlet', password: 's3cret' }));
    expect(o).toMatchObject({ host: '127.0.0.1', port: 6379, username: 'meshlet', password: 's3cret', enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 100, connectTimeout: 1000 });
    expect(o.tls).toBeUndefined();
    // Reconnects back off from 100 ms to 2 s, forever.
    const retry = o.retryStrategy as (times: number) => number;
    expect([1, 2, 3, 10, 1000].map(retry)).toEqual([100, 200, 400, 2000, 2000]);
  });

  it('turns TLS on for rediss:// or a tls section, with the CA and client certificate read from files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshlet-redis-tls-'));
    try {
      await writeFile(join(dir, 'ca.pem'), 'CA');
      expect(redisOptions(redisSchema.parse({ address: 'rediss://cache:6380' })).tls).toEqual({ servername: 'cache' });
      // An IP address is no SNI name (RFC 6066): none is sent, and node checks the certificate's IP SANs.
      expect(redisOptions(redisSchema.parse({ address: 'rediss://10.0.0.7:6380' })).tls).toEqual({});
      const o = redisOptions(redisSchema.parse({ address: 'cache:6380', tls: { caFile: join(dir, 'ca.pem'), serverName: 'redis.internal' } }));
      expect(o.tls).toEqual({ ca: Buffer.from('CA'), servername: 'redis.internal' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('bucketKey', () => {
  it('is prefix, limit name and URI-encoded descriptor values', () => {
    const l = compileLimit({ name: 'per-caller', rate: '1/s' });
    expect(bucketKey('meshlet:rl:users:', l, 'spiffe://td/ns/a/sa/b\u0000t 1')).toBe('meshlet:rl:users:per-caller:spiffe%3A%2F%2Ftd%2Fns%2Fa%2Fsa%2Fb:t%201');
  });
});
