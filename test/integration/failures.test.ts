// SPDX-License-Identifier: Apache-2.0
// Failure behaviour of the data plane: every upstream failure ends as a prompt gRPC status (never a hang or a bare
// reset), GOAWAY and drains under load lose no call when another endpoint exists.

import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startEcho, unary, type EchoServer } from '../helpers/echo.js';
import { startSidecar } from '../helpers/sidecar.js';
import { deadPort, useScoped } from '../helpers/scoped.js';

const { defer, sidecar, client } = useScoped();

async function echo(): Promise<EchoServer> {
  const e = await startEcho();
  defer(() => e.close());
  return e;
}

/** Raw HTTP/2 call, to see exactly what goes on the wire. */
async function rawCall(address: string, headers: Record<string, string> = {}): Promise<{ headers: http2.IncomingHttpHeaders; endStream: boolean }> {
  const session = http2.connect(`http://${address}`);
  try {
    const stream = session.request({ ':method': 'POST', ':path': '/test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers', ...headers });
    stream.end(Buffer.from([0, 0, 0, 0, 1, 65]));
    return await new Promise((resolve, reject) => {
      stream.once('response', (h, flags) => resolve({ headers: h, endStream: (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0 }));
      stream.once('error', reject);
    });
  } finally {
    session.close();
  }
}

describe('upstream failures become gRPC statuses', () => {
  it('an unreachable app gives UNAVAILABLE (Trailers-Only, x-meshlet-error) promptly', async () => {
    const port = await deadPort();
    const s = await sidecar({ service: { name: 'x' }, inbound: { listen: '127.0.0.1:0', app: `127.0.0.1:${port}` } });
    const r = await rawCall(s.inbound as string);
    expect(r.endStream).toBe(true);
    expect(r.headers[':status']).toBe(200);
    expect(r.headers['content-type']).toBe('application/grpc');
    expect(r.headers['grpc-status']).toBe(String(grpc.status.UNAVAILABLE));
    expect(r.headers['x-meshlet-error']).toBe('ERR_UPSTREAM_CONNECT');
    const g = await unary(client(s.inbound as string), Buffer.from('x'));
    expect(g.err?.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('an upstream killed mid-stream gives the client UNAVAILABLE after the messages already sent', async () => {
    const e = await startEcho();
    const s = await sidecar({ service: { name: 'x' }, inbound: { listen: '127.0.0.1:0', app: e.address } });
    const md = new grpc.Metadata();
    md.set('stream-count', '3');
    md.set('never-respond', '1');
    const call = client(s.inbound as string).ServerStream(Buffer.from('x'), md);
    const received: Buffer[] = [];
    call.on('error', () => {});
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('data', (b: Buffer) => {
      received.push(b);
      if (received.length === 3) e.server.forceShutdown();
    });
    const st = await status;
    expect(received).toHaveLength(3);
    expect(st.code).toBe(grpc.status.UNAVAILABLE);
    expect(st.metadata.get('x-meshlet-error')[0]).toBe('ERR_UPSTREAM_CONNECTION_LOST');
  });

  it('an upstream that answers plain HTTP 503 looks the same as calling it directly', async () => {
    const raw = http2.createServer();
    raw.on('stream', (stream) => stream.respond({ ':status': 503, 'content-type': 'text/plain' }, { endStream: true }));
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    defer(() => raw.close());
    const address = `127.0.0.1:${(raw.address() as net.AddressInfo).port}`;
    const s = await sidecar({ service: { name: 'x' }, inbound: { listen: '127.0.0.1:0', app: address } });
    const direct = await unary(client(address), Buffer.from('x'));
    const proxied = await unary(client(s.inbound as string), Buffer.from('x'));
    expect(direct.err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(proxied.err?.code).toBe(direct.err?.code);
    expect(proxied.err?.details).toBe(direct.err?.details);
  });

  it.each([
    [http2.constants.NGHTTP2_CANCEL, grpc.status.CANCELLED],
    [http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, grpc.status.RESOURCE_EXHAUSTED],
    [http2.constants.NGHTTP2_INTERNAL_ERROR, grpc.status.INTERNAL],
  ])('an upstream RST_STREAM %i maps to status %i as it would for a direct client', async (code, status) => {
    const raw = http2.createServer();
    raw.on('stream', (stream) => {
      stream.on('error', () => {}); // closing with an error code makes the server's own stream emit one
      stream.close(code);
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    defer(() => raw.close());
    const address = `127.0.0.1:${(raw.address() as net.AddressInfo).port}`;
    const s = await sidecar({ service: { name: 'x' }, inbound: { listen: '127.0.0.1:0', app: address } });
    const direct = await unary(client(address), Buffer.from('x'));
    const proxied = await unary(client(s.inbound as string), Buffer.from('x'));
    expect(direct.err?.code).toBe(status);
    expect(proxied.err?.code).toBe(status);
  });

  it('a call to an unknown backend gives UNAVAILABLE naming it', async () => {
    const s = await sidecar({ service: { name: 'x' }, outbound: { listen: '127.0.0.1:0' } });
    const r = await rawCall(s.outbound as string, { ':authority': 'nowhere:80' });
    expect(r.headers['grpc-status']).toBe(String(grpc.status.UNAVAILABLE));
    expect(r.headers['x-meshlet-error']).toBe('ERR_UNKNOWN_BACKEND');
    expect(decodeURIComponent(String(r.headers['grpc-message']))).toContain('"nowhere"');
  });

  it('a malformed grpc-timeout is rejected with INTERNAL, as grpc-js servers do', async () => {
    const e = await echo();
    const s = await sidecar({ service: { name: 'x' }, inbound: { listen: '127.0.0.1:0', app: e.address } });
    const direct = await rawCall(e.address, { 'grpc-timeout': 'soon' });
    const proxied = await rawCall(s.inbound as string, { 'grpc-timeout': 'soon' });
    expect(direct.headers['grpc-status']).toBe(String(grpc.status.INTERNAL));
    expect(proxied.headers['grpc-status']).toBe(String(grpc.status.INTERNAL));
    expect(proxied.headers['x-meshlet-error']).toBe('ERR_BAD_REQUEST');
  });
});

describe('sessions, GOAWAY and drain', () => {
  it('opens another session when the upstream MAX_CONCURRENT_STREAMS is reached', async () => {
    const e = await startEcho({ 'grpc.max_concurrent_streams': 10 });
    defer(() => e.close());
    const s = await sidecar({ service: { name: 'x' }, inbound: { listen: '127.0.0.1:0', app: e.address } });
    const c = client(s.inbound as string);
    const md = new grpc.Metadata();
    md.set('delay-ms', '100');
    const calls = Array.from({ length: 35 }, () => unary(c, Buffer.from('x'), md));
    await new Promise<void>((resolve) => {
      // Wait until every call is in flight at the upstream (event-driven: the echo server emits 'call').
      const check = () => (e.calls.length >= 30 ? resolve() : e.events.once('call', check));
      check();
    });
    const stats = s.app.pools.inbound?.stats()[e.address];
    expect(stats?.sessions).toBeGreaterThanOrEqual(3);
    const results = await Promise.all(calls);
    expect(results.filter((r) => r.err !== null)).toEqual([]);
  });

  it('an upstream GOAWAY under load loses no call when another endpoint exists', async () => {
    const e1 = await startEcho();
    const e2 = await echo();
    const a = await sidecar({
      service: { name: 'caller' },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: { echo: { endpoints: [e1.address, e2.address], balancing: { policy: 'round_robin' } } },
    });
    const c = client(a.outbound as string, 'echo');
    const md = new grpc.Metadata();
    md.set('delay-ms', '20');
    let shutdown = false;
    const results: Array<grpc.ServiceError | null> = [];
    const worker = async () => {
      for (let i = 0; i < 25; i++) {
        const r = await unary(c, Buffer.from('x'), md);
        results.push(r.err);
        if (results.length === 100 && !shutdown) {
          shutdown = true;
          e1.server.tryShutdown(() => {}); // GOAWAY; in-flight calls finish, new streams are refused
        }
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    e1.server.forceShutdown();
    expect(shutdown).toBe(true);
    expect(results.filter((r) => r !== null).map((r) => r?.details)).toEqual([]);
    expect(results).toHaveLength(250);
  });

  it('an app that recycles its connections (GOAWAY every 50 ms) loses no call behind the inbound sidecar', async () => {
    const e = await startEcho({ 'grpc.max_connection_age_ms': 50, 'grpc.max_connection_age_grace_ms': 5000 });
    defer(() => e.close());
    const s = await sidecar({ service: { name: 'x' }, inbound: { listen: '127.0.0.1:0', app: e.address } });
    const c = client(s.inbound as string);
    const md = new grpc.Metadata();
    md.set('delay-ms', '5');
    const errors: string[] = [];
    const worker = async () => {
      for (let i = 0; i < 40; i++) {
        const r = await unary(c, Buffer.from('x'), md);
        if (r.err) errors.push(`${r.err.code} ${r.err.details}`);
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    expect(errors).toEqual([]);
  });

  it('draining a sidecar under load loses no call when a replacement is ready', async () => {
    const e = await echo();
    const b1 = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: e.address } });
    const b2 = await sidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: e.address } });
    const a = await sidecar({
      service: { name: 'caller' },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: { echo: { endpoints: [b1.inbound as string, b2.inbound as string], balancing: { policy: 'round_robin' } } },
    });
    const c = client(a.outbound as string, 'echo');
    const md = new grpc.Metadata();
    md.set('delay-ms', '20');
    const results: Array<grpc.ServiceError | null> = [];
    let drained: Promise<{ cut: number }> | undefined;
    const worker = async () => {
      for (let i = 0; i < 25; i++) {
        const r = await unary(c, Buffer.from('x'), md);
        results.push(r.err);
        if (results.length === 80 && drained === undefined) drained = b1.app.drain(5000);
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    expect(drained).toBeDefined();
    expect((await drained)?.cut).toBe(0);
    expect(results.filter((r) => r !== null).map((r) => r?.details)).toEqual([]);
    expect(results).toHaveLength(250);
  });

  it('in-flight calls finish during a drain and the listener refuses new connections', async () => {
    const e = await echo();
    const s = await startSidecar({ service: { name: 'x' }, inbound: { listen: '127.0.0.1:0', app: e.address } });
    const c = client(s.inbound as string);
    const md = new grpc.Metadata();
    md.set('delay-ms', '200');
    const inflight = unary(c, Buffer.from('slow'), md);
    await new Promise((resolve) => e.events.once('call', resolve));
    const drained = s.app.drain(5000);
    const r = await inflight;
    expect(r.err).toBeNull();
    expect((await drained).cut).toBe(0);
    await expect(
      new Promise((resolve, reject) => {
        const sock = net.connect(Number((s.inbound as string).split(':')[1]), '127.0.0.1');
        sock.once('connect', () => {
          sock.destroy();
          resolve('connected');
        });
        sock.once('error', reject);
      }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('a drain past its timeout cuts the remaining calls with a status', async () => {
    const e = await echo();
    const s = await startSidecar({ service: { name: 'x' }, inbound: { listen: '127.0.0.1:0', app: e.address } });
    const c = client(s.inbound as string);
    const md = new grpc.Metadata();
    md.set('never-respond', '1');
    const inflight = unary(c, Buffer.from('stuck'), md);
    await new Promise((resolve) => e.events.once('call', resolve));
    const { cut } = await s.app.drain(50);
    expect(cut).toBe(1);
    const r = await inflight;
    expect(r.err?.code).toBeDefined();
    expect([grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.INTERNAL]).toContain(r.err?.code);
  });
});
