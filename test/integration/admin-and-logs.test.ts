// SPDX-License-Identifier: Apache-2.0
// The admin server (/live, /ready, /config) and the access log, as an operator sees them.

import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { echoClient, startEcho, unary, type EchoServer } from '../helpers/echo.js';
import { startSidecar, type Sidecar } from '../helpers/sidecar.js';
import { useCleanup } from '../helpers/cleanup.js';

const defer = useCleanup();

async function echo(): Promise<EchoServer> {
  const e = await startEcho();
  defer(() => e.close());
  return e;
}

async function get(s: Sidecar, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://${s.admin}${path}`, { method });
  return { status: r.status, body: await r.text() };
}

describe('admin server', () => {
  it('/live is 200; /ready is 200 once listeners are up and endpoints known, 503 while draining', async () => {
    const e = await echo();
    const s = await startSidecar({
      service: { name: 'caller' },
      inbound: { listen: '127.0.0.1:0', app: e.address },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: { echo: { endpoints: [e.address] } },
    });
    defer(() => s.close());
    expect((await get(s, '/live')).status).toBe(200);
    // Static endpoints arrive asynchronously (never inside watch()); readiness follows them.
    const backend = s.app.backends?.get('echo');
    await backend?.whenResolved();
    expect(await get(s, '/ready')).toEqual({ status: 200, body: 'ready\n' });
    // Hold a drain open with an in-flight call so /ready can be observed while draining.
    const md = new grpc.Metadata();
    md.set('delay-ms', '300');
    const c = echoClient(s.inbound as string);
    defer(() => c.close());
    const inflight = unary(c, Buffer.from('x'), md);
    await new Promise((resolve) => e.events.once('call', resolve));
    const drained = s.app.drain(5000);
    const during = await get(s, '/ready').catch(() => ({ status: 0, body: '' }));
    await inflight;
    await drained;
    expect(during.status).toBe(503);
    expect(JSON.parse(during.body)).toMatchObject({ ready: false, reasons: ['draining'] });
  });

  it('/ready says what it waits for', async () => {
    // A resolver that never answers: the declared upstream never gets endpoints.
    const silent = { kind: 'silent', watch: () => ({ close() {} }) };
    const s = await startSidecar(
      { service: { name: 'caller' }, outbound: { listen: '127.0.0.1:0' }, upstreams: { slow: { endpoints: ['127.0.0.1:1'] } } },
      { resolver: silent },
    );
    defer(() => s.close());
    const r = await get(s, '/ready');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toEqual({ ready: false, reasons: ['waiting for endpoints of slow'] });
  });

  it('/config shows the effective config with secrets redacted', async () => {
    const e = await echo();
    const s = await startSidecar({
      service: { name: 'svc' },
      inbound: { listen: '127.0.0.1:0', app: e.address },
      consul: { address: 'http://127.0.0.1:1', token: 'super-secret', register: false },
    });
    defer(() => s.close());
    const r = await get(s, '/config');
    expect(r.status).toBe(200);
    expect(r.body).not.toContain('super-secret');
    const cfg = JSON.parse(r.body) as { consul: { token: string }; inbound: { app: string }; connection: { idleTimeoutMs: number } };
    expect(cfg.consul.token).toBe('[redacted]');
    expect(cfg.inbound.app).toBe(e.address);
    expect(cfg.connection.idleTimeoutMs).toBe(60_000); // defaults are shown
  });

  it('answers 404 for unknown paths and 405 for a wrong method', async () => {
    const s = await startSidecar({ service: { name: 'x' }, outbound: { listen: '127.0.0.1:0' } });
    defer(() => s.close());
    expect((await get(s, '/nope')).status).toBe(404);
    expect((await get(s, '/ready', 'POST')).status).toBe(405);
  });
});

describe('access log', () => {
  it('writes one JSON line per call with direction, method, status, duration, bytes and upstream', async () => {
    const e = await echo();
    const s = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: e.address } });
    defer(() => s.close());
    const c = echoClient(s.inbound as string);
    defer(() => c.close());
    expect((await unary(c, Buffer.from('hello'))).err).toBeNull();
    const md = new grpc.Metadata();
    md.set('respond-with-status', '5');
    md.set('respond-with-message', 'no such user');
    expect((await unary(c, Buffer.from('x'), md)).err?.code).toBe(5);
    const lines = s.logs.filter((l) => l.access === true);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      level: 'info',
      component: 'access',
      direction: 'inbound',
      grpc_service: 'test.Echo',
      grpc_method: 'Unary',
      grpc_code: 'OK',
      grpc_status: 0,
      upstream: e.address,
      attempts: 1,
      request_bytes: 10, // 5-byte gRPC frame header + 5-byte message
      response_bytes: 10,
    });
    expect(typeof lines[0]?.duration_ms).toBe('number');
    expect(lines[1]).toMatchObject({ grpc_code: 'NOT_FOUND', grpc_status: 5, grpc_message: 'no such user' });
    // One key per field: JSON with duplicate keys would confuse log pipelines.
    expect(Object.keys(lines[0] as object).filter((k) => k === 'direction')).toHaveLength(1);
  });

  it('logs meshlet-made failures with their error code', async () => {
    const s = await startSidecar({ service: { name: 'x' }, inbound: { listen: '127.0.0.1:0', app: '127.0.0.1:1' } });
    defer(() => s.close());
    const c = echoClient(s.inbound as string);
    defer(() => c.close());
    expect((await unary(c, Buffer.from('x'))).err?.code).toBe(grpc.status.UNAVAILABLE);
    const line = s.logs.find((l) => l.access === true);
    expect(line).toMatchObject({ grpc_code: 'UNAVAILABLE', error_code: 'ERR_UPSTREAM_CONNECT' });
  });
});
