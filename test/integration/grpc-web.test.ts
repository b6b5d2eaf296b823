// SPDX-License-Identifier: Apache-2.0
// gRPC-Web on the inbound listener (issue 16), byte by byte over HTTP/1.1 and HTTP/2: a raw client (helpers/
// grpc-web.ts) → meshlet → the grpc-js echo upstream. Binary and text, empty and large messages, request frames split
// across chunks, trailers-only errors, -bin metadata, refused content types, malformed bodies, limits, CORS,
// deadlines, cancellation, and that the chain (metrics, access log) saw the calls.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/grpcweb/codec.js';
import { startEcho, type EchoServer } from '../helpers/echo.js';
import { parseResponse, requestBody, webRequest } from '../helpers/grpc-web.js';
import { scrape } from '../helpers/prom-text.js';
import { startSidecar, type Sidecar } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';

const ORIGIN = 'http://page.test:7190';
const MAX_REQUEST_BYTES = 256 * 1024;
let echo: EchoServer;
let sc: Sidecar;
let address: string;

beforeAll(async () => {
  echo = await startEcho();
  sc = await startSidecar(
    {
      service: { name: 'web' },
      inbound: {
        listen: '127.0.0.1:0',
        app: echo.address,
        grpcWeb: { maxRequestBytes: MAX_REQUEST_BYTES, cors: { allowedOrigins: [ORIGIN, 'https://*.example.com'], allowedHeaders: ['x-tenant'], exposedHeaders: ['x-echo-cost'] } },
      },
    },
  );
  address = sc.inbound as string;
});

afterAll(async () => {
  await sc?.close();
  await echo?.close();
});

const TEXT = 'application/grpc-web-text';
const BINARY = 'application/grpc-web+proto';

describe.each(['http/1.1', 'h2'] as const)('gRPC-Web over %s', (protocol) => {
  describe.each([BINARY, TEXT])('%s', (contentType) => {
    it('relays a unary call and ends with the trailers frame', async () => {
      const r = await webRequest(address, { protocol, contentType, path: '/test.Echo/Unary', message: Buffer.from('hello'), headers: { 'x-echo-plain': 'v1' } });
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe(contentType === TEXT ? 'application/grpc-web-text+proto' : 'application/grpc-web+proto');
      expect(r.messages.map(String)).toEqual(['hello']);
      expect(r.trailers).toMatchObject({ 'grpc-status': '0', 'x-echo-plain': 'v1' });
    });

    it('relays an empty and a large (1 MiB) message', async () => {
      const empty = await webRequest(address, { protocol, contentType, path: '/test.Echo/Unary', message: Buffer.alloc(0) });
      expect(empty.messages).toEqual([Buffer.alloc(0)]);
      expect(empty.trailers?.['grpc-status']).toBe('0');
      const big = Buffer.alloc(200 * 1024, 0x5a);
      const r = await webRequest(address, { protocol, contentType, path: '/test.Echo/Unary', message: big });
      expect(r.messages).toHaveLength(1);
      expect(r.messages[0]!.equals(big)).toBe(true);
    });

    it('reassembles a request body split across chunks at odd byte positions', async () => {
      const body = requestBody(Buffer.from('split across many chunks'), contentType);
      const parts = [body.subarray(0, 1), body.subarray(1, 3), body.subarray(3, 7), body.subarray(7, 11), body.subarray(11)];
      const r = await webRequest(address, { protocol, contentType, path: '/test.Echo/Unary', body: parts });
      expect(r.messages.map(String)).toEqual(['split across many chunks']);
    });

    it('streams a server-streaming call, then its status', async () => {
      const r = await webRequest(address, { protocol, contentType, path: '/test.Echo/ServerStream', message: Buffer.from('x'), headers: { 'stream-count': '5', 'stream-size': '8' } });
      expect(r.messages).toHaveLength(5);
      expect(r.messages.map((m) => m.readUInt32BE(0))).toEqual([0, 1, 2, 3, 4]);
      expect(r.trailers?.['grpc-status']).toBe('0');
    });

    it('carries a trailers-only error and -bin metadata in the trailers frame', async () => {
      const details = Buffer.from([0, 1, 2, 0xff]).toString('base64');
      const r = await webRequest(address, {
        protocol,
        contentType,
        path: '/test.Echo/Unary',
        message: Buffer.from('x'),
        headers: { 'respond-with-status': '5', 'respond-with-message': 'no such user', 'respond-with-details': details, 'x-echo-cost-bin': 'AAEC' },
      });
      expect(r.status).toBe(200);
      expect(r.messages).toEqual([]);
      expect(r.trailers).toMatchObject({ 'grpc-status': '5', 'grpc-message': 'no%20such%20user', 'x-echo-cost-bin': 'AAEC' });
      expect(Buffer.from(r.trailers!['grpc-status-details-bin']!, 'base64').equals(Buffer.from([0, 1, 2, 0xff]))).toBe(true);
    });
  });

  it('refuses a body with two messages as client streaming (UNIMPLEMENTED)', async () => {
    const body = Buffer.concat([encodeFrame(0, Buffer.from('a')), encodeFrame(0, Buffer.from('b'))]);
    const r = await webRequest(address, { protocol, path: '/test.Echo/ClientStream', body });
    expect(r.trailers).toMatchObject({ 'grpc-status': '12', 'x-meshlet-error': 'ERR_GRPCWEB_CLIENT_STREAMING' });
  });

  it('answers malformed base64 and a body cut short with ERR_GRPCWEB_BAD_BODY', async () => {
    const bad = await webRequest(address, { protocol, contentType: TEXT, path: '/test.Echo/Unary', body: Buffer.from('AAAA!!!!') });
    expect(bad.trailers).toMatchObject({ 'grpc-status': '13', 'x-meshlet-error': 'ERR_GRPCWEB_BAD_BODY' });
    const frame = encodeFrame(0, Buffer.from('hello'));
    const cut = await webRequest(address, { protocol, path: '/test.Echo/Unary', body: frame.subarray(0, 8) });
    expect(cut.trailers).toMatchObject({ 'grpc-status': '13', 'x-meshlet-error': 'ERR_GRPCWEB_BAD_BODY' });
    const garbage = await webRequest(address, { protocol, path: '/test.Echo/Unary', body: Buffer.from('GET / HTTP/1.1\r\n\r\n') });
    expect(garbage.trailers?.['x-meshlet-error']).toBe('ERR_GRPCWEB_BAD_BODY');
  });

  it('refuses a huge base64 body with RESOURCE_EXHAUSTED without buffering it', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x41); // 'A' decodes to zeros
    // 32 MiB sent as one chunk object repeated (the client holds 64 KiB); buffered, it would decode to 24 MiB.
    const r = await webRequest(address, { protocol, contentType: TEXT, path: '/test.Echo/Unary', body: Array.from({ length: 512 }, () => chunk) });
    expect(r.trailers).toMatchObject({ 'grpc-status': '8', 'x-meshlet-error': 'ERR_GRPCWEB_TOO_LARGE' });
    // That meshlet stops decoding and buffering past the limit is test/unit/proxy/web/serve.test.ts's job.
    const after = await webRequest(address, { protocol, path: '/test.Echo/Unary', message: Buffer.from('still fine') });
    expect(after.messages.map(String)).toEqual(['still fine']);
  });

  it('refuses content types that are not gRPC-Web with 415, +json included', async () => {
    for (const contentType of ['text/plain', 'application/grpc-web+json', 'application/json']) {
      const r = await webRequest(address, { protocol, contentType, path: '/test.Echo/Unary', body: Buffer.from('{}') });
      if (protocol === 'h2' && !contentType.startsWith('application/grpc-web')) continue; // native gRPC path: covered elsewhere
      expect(r.status).toBe(415);
      expect(r.raw.toString()).toContain(`got content-type "${contentType}"`);
    }
  });

  it('propagates grpc-timeout to the app and ends with DEADLINE_EXCEEDED', async () => {
    const seen = new Promise<number>((resolve) => echo.events.once('call', (c: { deadline: Date | number }) => resolve(Number(c.deadline))));
    const r = await webRequest(address, { protocol, path: '/test.Echo/Unary', message: Buffer.from('x'), headers: { 'grpc-timeout': '200m', 'never-respond': '1' } });
    expect(Number.isFinite(await seen)).toBe(true);
    expect(r.trailers).toMatchObject({ 'grpc-status': '4', 'x-meshlet-error': 'ERR_DEADLINE_EXCEEDED' });
  });

  it('cancels the upstream call when the client aborts', async () => {
    const ac = new AbortController();
    // Only this test's method: the deadline test's cancellation may still be on its way.
    const cancelled = new Promise<string>((resolve) => {
      const on = (m: string) => {
        if (m !== 'ServerStream') return;
        echo.events.off('cancelled', on);
        resolve(m);
      };
      echo.events.on('cancelled', on);
    });
    echo.events.once('call', () => ac.abort());
    await expect(webRequest(address, { protocol, path: '/test.Echo/ServerStream', message: Buffer.from('x'), headers: { 'never-respond': '1', 'stream-count': '1' }, signal: ac.signal })).rejects.toThrow();
    expect(await cancelled).toBe('ServerStream');
  });
});

describe('HTTP/2: one connection, a bad call next to good ones', () => {
  it('answers a garbage body on one stream while other streams of the connection go through', async () => {
    const session = http2.connect(`http://${address}`);
    try {
      const call = (body: Buffer, contentType: string) =>
        new Promise<{ trailers: Record<string, string> | undefined; messages: Buffer[] }>((resolve, reject) => {
          const s = session.request({ ':method': 'POST', ':path': '/test.Echo/Unary', 'content-type': contentType });
          const chunks: Buffer[] = [];
          let ct: string | undefined;
          s.on('response', (h) => (ct = h['content-type'] as string));
          s.on('data', (c: Buffer) => chunks.push(c));
          s.on('end', () => resolve(parseResponse(Buffer.concat(chunks), ct)));
          s.on('error', reject);
          s.end(body);
        });
      const [good1, bad, good2] = await Promise.all([
        call(requestBody(Buffer.from('one')), BINARY),
        call(Buffer.from('@@@@ not base64 @@@@'), TEXT),
        call(requestBody(Buffer.from('two'), TEXT), TEXT),
      ]);
      expect(bad.trailers?.['x-meshlet-error']).toBe('ERR_GRPCWEB_BAD_BODY');
      expect(good1.messages.map(String)).toEqual(['one']);
      expect(good2.messages.map(String)).toEqual(['two']);
      expect((await call(requestBody(Buffer.from('after')), BINARY)).messages.map(String)).toEqual(['after']);
      expect(session.closed).toBe(false);
    } finally {
      session.close();
    }
  });
});

describe('HTTP/1.1 on the gRPC port', () => {
  it('keeps a keep-alive connection usable after refused and failed calls', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await webRequest(address, { path: '/test.Echo/Unary', message: Buffer.from('1'), agent });
      expect(first.messages.map(String)).toEqual(['1']);
      const refused = await webRequest(address, { path: '/', contentType: 'text/html', body: Buffer.from('<p>'), agent });
      expect(refused.status).toBe(415);
      expect(refused.reusedSocket).toBe(true);
      const bad = await webRequest(address, { contentType: TEXT, path: '/test.Echo/Unary', body: Buffer.from('%%%%'), agent });
      expect(bad.trailers?.['x-meshlet-error']).toBe('ERR_GRPCWEB_BAD_BODY');
      const last = await webRequest(address, { path: '/test.Echo/Unary', message: Buffer.from('2'), agent });
      expect(last.messages.map(String)).toEqual(['2']);
      expect(last.reusedSocket).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it('answers bytes that are neither HTTP/2 nor HTTP/1.1 with 400 and closes, never a hang', async () => {
    const [host, port] = address.split(':') as [string, string];
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(Number(port), host, () => sock.write('\x00\x01garbage that is no request line\r\n\r\n'));
      let text = '';
      sock.on('data', (c: Buffer) => (text += c.toString('latin1')));
      sock.on('close', () => resolve(text));
      sock.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
  });

  it('answers an h2c upgrade with 426 and a GET with 405', async () => {
    const up = await webRequest(address, { method: 'GET', path: '/', contentType: '', headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': '' } });
    expect(up.status).toBe(426);
    const get = await webRequest(address, { method: 'GET', path: '/test.Echo/Unary' });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST, OPTIONS');
  });
});

describe('CORS', () => {
  it('answers the preflight of an allowed origin (exact and wildcard)', async () => {
    for (const origin of [ORIGIN, 'https://app.example.com']) {
      const r = await webRequest(address, { method: 'OPTIONS', path: '/test.Echo/Unary', contentType: '', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-grpc-web,x-tenant' } });
      expect(r.status).toBe(204);
      expect(r.headers['access-control-allow-origin']).toBe(origin);
      expect(String(r.headers['access-control-allow-headers'])).toContain('x-tenant');
      expect(r.headers['access-control-max-age']).toBe('600');
    }
  });

  it('gives an origin that is not allowed no CORS headers, on the preflight and on the call', async () => {
    const pre = await webRequest(address, { method: 'OPTIONS', path: '/test.Echo/Unary', contentType: '', headers: { origin: 'https://evil.test', 'access-control-request-method': 'POST' } });
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    const call = await webRequest(address, { path: '/test.Echo/Unary', message: Buffer.from('x'), headers: { origin: 'https://evil.test' } });
    expect(call.headers['access-control-allow-origin']).toBeUndefined();
    const ok = await webRequest(address, { path: '/test.Echo/Unary', message: Buffer.from('x'), headers: { origin: ORIGIN } });
    expect(ok.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(String(ok.headers['access-control-expose-headers'])).toContain('x-echo-cost');
  });
});

describe('the inbound chain sees gRPC-Web calls', () => {
  it('counts them in the call metrics and meshlet_grpc_web_calls_total, and logs them with grpc_web', async () => {
    await webRequest(address, { path: '/test.Echo/Unary', message: Buffer.from('metrics'), headers: { 'x-echo-plain': 'counted' } });
    await webRequest(address, { protocol: 'h2', contentType: TEXT, path: '/test.Echo/Unary', message: Buffer.from('metrics') });
    const m = await scrape(sc.admin);
    expect(m.value('meshlet_grpc_web_calls_total', { protocol: 'http/1.1', encoding: 'binary', grpc_code: 'OK' })).toBeGreaterThanOrEqual(1);
    expect(m.value('meshlet_grpc_web_calls_total', { protocol: 'h2', encoding: 'text', grpc_code: 'OK' })).toBeGreaterThanOrEqual(1);
    expect(m.value('meshlet_grpc_web_calls_total', { protocol: 'http/1.1', encoding: 'binary', grpc_code: 'Unimplemented' })).toBeGreaterThanOrEqual(1);
    expect(m.value('meshlet_grpc_web_rejected_total', { reason: 'not_grpc_web' })).toBeGreaterThanOrEqual(1);
    const handled = m.families.get('meshlet_grpc_handled_total')?.samples.filter((s) => s.labels.direction === 'inbound' && s.labels.grpc_method === 'Unary' && s.labels.grpc_code === 'OK');
    expect(handled?.reduce((a, s) => a + s.value, 0)).toBeGreaterThanOrEqual(2);
    await waitUntil(() => sc.logs.some((l) => l.access === true && l.grpc_web === 'h2'), 'access log line of a gRPC-Web call');
    expect(sc.logs.some((l) => l.access === true && l.grpc_web === 'http/1.1' && l.grpc_method === 'Unary')).toBe(true);
  });
});

describe('authz applies to gRPC-Web calls unchanged', () => {
  it('denies a method by policy with PERMISSION_DENIED in the trailers frame; the app never sees it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshlet-grpc-web-authz-'));
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, 'authz:\n  rules:\n    - name: no-unary\n      action: deny\n      methods: ["test.Echo/Unary"]\n');
    const denied = await startSidecar(
      { service: { name: 'web' }, inbound: { listen: '127.0.0.1:0', app: echo.address, grpcWeb: {} }, policy: { file } },
      { level: 'silent' },
    );
    try {
      const before = echo.calls.length;
      const r = await webRequest(denied.inbound as string, { path: '/test.Echo/Unary', message: Buffer.from('x') });
      expect(r.trailers).toMatchObject({ 'grpc-status': '7', 'x-meshlet-error': 'ERR_AUTHZ_DENIED' });
      expect(echo.calls.length).toBe(before);
      const ok = await webRequest(denied.inbound as string, { path: '/test.Echo/ServerStream', message: Buffer.from('x'), headers: { 'stream-count': '1' } });
      expect(ok.trailers?.['grpc-status']).toBe('0');
    } finally {
      await denied.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rate limits apply to gRPC-Web calls unchanged', () => {
  it('rejects past the burst with RESOURCE_EXHAUSTED and the pushback hint in the trailers frame', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshlet-grpc-web-ratelimit-'));
    const file = join(dir, 'policy.yaml');
    // One token a minute with a burst of 2: the third call inside the test is over the limit, whatever the timing.
    writeFileSync(file, 'rateLimits:\n  - name: web-unary\n    match: { method: test.Echo/Unary }\n    rate: 1/m\n    burst: 2\n');
    const limited = await startSidecar(
      { service: { name: 'web' }, inbound: { listen: '127.0.0.1:0', app: echo.address, grpcWeb: {} }, policy: { file } },
      { level: 'silent' },
    );
    try {
      const before = echo.calls.length;
      const codes: string[] = [];
      for (const protocol of ['http/1.1', 'h2', 'http/1.1'] as const) {
        const r = await webRequest(limited.inbound as string, { protocol, path: '/test.Echo/Unary', message: Buffer.from('x') });
        codes.push(r.trailers?.['grpc-status'] ?? 'none');
        if (codes.length === 3) {
          expect(r.trailers).toMatchObject({ 'grpc-status': '8', 'x-meshlet-error': 'ERR_RATELIMIT_EXCEEDED' });
          expect(Number(r.trailers?.['grpc-retry-pushback-ms'])).toBeGreaterThan(0);
        }
      }
      expect(codes).toEqual(['0', '0', '8']);
      expect(echo.calls.length).toBe(before + 2);
    } finally {
      await limited.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
