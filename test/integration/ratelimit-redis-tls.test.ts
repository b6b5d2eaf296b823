// SPDX-License-Identifier: Apache-2.0
// Global rate limits against a real redis-server that speaks TLS (issue 15: "TLS from config"): with `rediss://` and
// the server's CA in `redis.tls.caFile` (and a client certificate, which this server requires) the leases go over
// TLS and the bucket is shared; a server whose certificate does not chain to the configured CA is a warning and
// the local fallback, never a crash or a plaintext retry.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/load.js';
import { useCleanup } from '../helpers/cleanup.js';
import { echoClient, startEcho, unary } from '../helpers/echo.js';
import { scrape } from '../helpers/prom-text.js';
import { startRedis } from '../helpers/redis.js';
import { deadPort } from '../helpers/scoped.js';
import { startSidecar } from '../helpers/sidecar.js';
import { usePki } from '../helpers/test-pki.js';
import { waitUntil } from '../helpers/wait.js';

const defer = useCleanup();
const pki = usePki();
const ca = pki.ca('redis-ca');
const server = pki.leaf(ca, 'redis', { spiffeId: null, extraSans: ['IP:127.0.0.1', 'DNS:localhost'] });
const client = pki.leaf(ca, 'meshlet', { spiffeId: null });
const otherCa = pki.ca('other-ca');

const tlsPort = await deadPort();
const redis = await startRedis({
  args: ['--tls-port', String(tlsPort), '--tls-cert-file', server.certFile, '--tls-key-file', server.keyFile, '--tls-ca-cert-file', ca.certFile, '--tls-auth-clients', 'yes'],
});

async function sidecar(caFile: string, prefix: string) {
  const echo = await startEcho();
  defer(() => echo.close());
  const parsed = parsePolicy('policy.yaml', 'rateLimits:\n  - name: g\n    rate: 1/m\n    burst: 2\n    scope: global\n');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const s = await startSidecar(
    {
      service: { name: 'echo' },
      inbound: { listen: '127.0.0.1:0', app: echo.address },
      log: { level: 'info', accessLog: false },
      redis: { address: `rediss://127.0.0.1:${tlsPort}`, keyPrefix: prefix, tls: { caFile, certFile: client.certFile, keyFile: client.keyFile } },
    },
    { policy: parsed.config },
  );
  defer(() => s.close());
  const c = echoClient(s.inbound as string);
  defer(() => c.close());
  return { s, c };
}

describe('global rate limits over TLS to Redis', () => {
  it('leases over TLS with the configured CA and client certificate, and shares the bucket', async () => {
    const { s, c } = await sidecar(ca.certFile, 'tls:');
    await waitUntil(() => s.logs.some((l) => String(l['msg']).startsWith('redis connected')), 'redis connected');
    const results = await Promise.all(Array.from({ length: 3 }, () => unary(c, Buffer.from('x'))));
    expect(results.map((r) => r.err?.code ?? 0).sort()).toEqual([0, 0, grpc.status.RESOURCE_EXHAUSTED]);
    // The bucket is in Redis (read over the plaintext port the helper keeps for redis-cli).
    expect(redis.cli('--scan', '--pattern', 'tls:echo:g:*')).toBe('tls:echo:g:');
    expect((await scrape(s.admin)).sum('meshlet_ratelimit_redis_fallback_total')).toBe(0);
  });

  it('a server certificate from another CA is a warning and the local fallback', async () => {
    const { s, c } = await sidecar(otherCa.certFile, 'untrusted:');
    await waitUntil(() => s.logs.some((l) => l['level'] === 'warn' && String(l['msg']).startsWith('redis unreachable')), 'the warning');
    const r = await unary(c, Buffer.from('x'));
    expect(r.err).toBeNull();
    expect((await scrape(s.admin)).sum('meshlet_ratelimit_redis_fallback_total', { result: 'local' })).toBe(1);
    expect(redis.cli('--scan', '--pattern', 'untrusted:*')).toBe('');
  });
});
