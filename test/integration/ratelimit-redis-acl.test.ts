// SPDX-License-Identifier: Apache-2.0
// Global rate limits against a real redis-server that requires an ACL user (issue 15): the configured username and
// password (here through MESHLET_REDIS_* style config) authenticate the leases; a wrong password is a warning and
// the local fallback, never a crash.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/schema.js';
import { useCleanup } from '../helpers/cleanup.js';
import { echoClient, startEcho, unary } from '../helpers/echo.js';
import { scrape } from '../helpers/prom-text.js';
import { startRedis } from '../helpers/redis.js';
import { startSidecar } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';

const defer = useCleanup();
const redis = await startRedis({
  args: ['--user', 'meshlet', 'on', '>s3cret', '~*', '&*', '+@all', '--user', 'default', 'off'],
  cliArgs: ['--user', 'meshlet', '--pass', 's3cret'],
});

function policy(yaml: string): Policy {
  const r = parsePolicy('policy.yaml', yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

async function sidecar(password: string) {
  const echo = await startEcho();
  defer(() => echo.close());
  const s = await startSidecar(
    {
      service: { name: 'echo' },
      inbound: { listen: '127.0.0.1:0', app: echo.address },
      log: { level: 'info', accessLog: false },
      redis: { address: redis.address, username: 'meshlet', password, keyPrefix: `acl-${password}:` },
    },
    { policy: policy('rateLimits:\n  - name: g\n    rate: 1/m\n    burst: 2\n    scope: global\n') },
  );
  defer(() => s.close());
  const client = echoClient(s.inbound as string);
  defer(() => client.close());
  return { s, client };
}

describe('global rate limits with a Redis ACL user', () => {
  it('authenticates as the configured user and shares the bucket in Redis', async () => {
    const { s, client } = await sidecar('s3cret');
    await waitUntil(() => s.logs.some((l) => String(l['msg']).startsWith('redis connected')), 'redis connected');
    const results = await Promise.all(Array.from({ length: 3 }, () => unary(client, Buffer.from('x'))));
    expect(results.map((r) => r.err?.code ?? 0).sort()).toEqual([0, 0, grpc.status.RESOURCE_EXHAUSTED]);
    expect(redis.cli('--scan', '--pattern', 'acl-s3cret:echo:g:*')).toBe('acl-s3cret:echo:g:');
    expect((await scrape(s.admin)).sum('meshlet_ratelimit_redis_fallback_total')).toBe(0);
  });

  it('a wrong password is a warning and the local fallback, not a crash', async () => {
    const { s, client } = await sidecar('wrong');
    await waitUntil(() => s.logs.some((l) => l['level'] === 'warn' && String(l['msg']).startsWith('redis unreachable')), 'the warning');
    const r = await unary(client, Buffer.from('x'));
    expect(r.err).toBeNull();
    expect((await scrape(s.admin)).sum('meshlet_ratelimit_redis_fallback_total', { result: 'local' })).toBe(1);
    // The password never reaches the log.
    expect(JSON.stringify(s.logs)).not.toContain('wrong');
  });
});
