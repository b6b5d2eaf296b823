// SPDX-License-Identifier: Apache-2.0
// The admin endpoints of issue 5: /metrics, /clusters, GET/PUT /log-level (runtime level change reaching child
// loggers), POST /drain, and mutations only by POST/PUT.

import { describe, expect, it } from 'vitest';
import { echoClient, startEcho, unary } from '../helpers/echo.js';
import { startSidecar, type Sidecar } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';
import { useCleanup } from '../helpers/cleanup.js';

const defer = useCleanup();

async function outboundSidecar(): Promise<{ s: Sidecar; echoAddress: string }> {
  const echo = await startEcho();
  defer(() => echo.close());
  const s = await startSidecar({ service: { name: 'caller' }, outbound: { listen: '127.0.0.1:0' }, upstreams: { echo: { endpoints: [echo.address] } } });
  defer(() => s.close());
  return { s, echoAddress: echo.address };
}

const admin = (s: Sidecar, path: string, init?: RequestInit) => fetch(`http://${s.admin}${path}`, init);

describe('admin endpoints', () => {
  it('changes the log level at runtime, child loggers included', async () => {
    const { s } = await outboundSidecar();
    expect(await (await admin(s, '/log-level')).json()).toEqual({ level: 'info' });
    const c = echoClient(s.outbound as string, 'echo');
    defer(() => c.close());
    expect((await unary(c, Buffer.from('x'))).err).toBeNull();
    expect(s.logs.some((l) => l.level === 'debug')).toBe(false);
    const res = await admin(s, '/log-level', { method: 'PUT', body: JSON.stringify({ level: 'debug' }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ level: 'debug', previous: 'info' });
    // The pool's child logger was created at start, before the change: closing its session logs at debug now.
    const pool = s.app.pools.outbound;
    pool?.retire(Object.keys(pool.stats())[0] as string);
    await waitUntil(() => s.logs.some((l) => l.level === 'debug' && l.component === 'pool' && l.msg === 'upstream session closed'), 'a debug line from the pool');
    expect((await admin(s, '/log-level', { method: 'PUT', body: 'warn' })).status).toBe(200);
    expect(await (await admin(s, '/log-level')).json()).toEqual({ level: 'warn' });
  });

  it('rejects unknown levels and mutations by GET', async () => {
    const { s } = await outboundSidecar();
    const bad = await admin(s, '/log-level', { method: 'PUT', body: 'loud' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/one of trace, debug, info/);
    expect((await admin(s, '/drain')).status).toBe(405);
    expect((await admin(s, '/metrics', { method: 'POST' })).status).toBe(405);
    expect((await admin(s, '/clusters', { method: 'PUT' })).status).toBe(405);
  });

  it('serves /metrics in the Prometheus text format', async () => {
    const { s } = await outboundSidecar();
    const res = await admin(s, '/metrics');
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await res.text()).toMatch(/^# TYPE meshlet_grpc_started_total counter$/m);
  });

  it('shows upstreams, endpoints, load and sessions in /clusters', async () => {
    const { s, echoAddress } = await outboundSidecar();
    const c = echoClient(s.outbound as string, 'echo');
    defer(() => c.close());
    expect((await unary(c, Buffer.from('x'))).err).toBeNull();
    const body = (await (await admin(s, '/clusters')).json()) as { upstreams: Array<Record<string, unknown>> };
    expect(body).not.toHaveProperty('inbound');
    expect(body.upstreams).toEqual([
      expect.objectContaining({
        name: 'echo',
        policy: 'least_request',
        resolved: true,
        discoveryError: null,
        endpoints: [expect.objectContaining({ address: echoAddress, weight: 1, ready: true, healthy: true, inflight: 0, sessions: 1, activeStreams: 0 })],
      }),
    ]);
    const ep = (body.upstreams[0]?.endpoints as Array<{ ewmaMs: number }>)[0];
    expect(ep?.ewmaMs).toBeGreaterThan(0);
  });

  it('starts a drain on POST /drain, once, and keeps the admin port up', async () => {
    const { s } = await outboundSidecar();
    expect((await admin(s, '/ready')).status).toBe(200);
    const first = await admin(s, '/drain', { method: 'POST' });
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ draining: true, alreadyDraining: false });
    expect(await (await admin(s, '/drain', { method: 'POST' })).json()).toEqual({ draining: true, alreadyDraining: true });
    expect((await admin(s, '/ready')).status).toBe(503);
    const c = echoClient(s.outbound as string, 'echo', { 'grpc.initial_reconnect_backoff_ms': 50 });
    defer(() => c.close());
    expect((await unary(c, Buffer.from('x'), undefined, { deadline: Date.now() + 500 })).err).not.toBeNull();
  });
});
