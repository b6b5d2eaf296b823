// SPDX-License-Identifier: Apache-2.0
// The gRPC-Web adapter against a fake exchange and a stub chain: bounded buffering, what reaches the chain, and
// how refusals are answered.

import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { Base64StreamDecoder, encodeFrame, parseFrames, parseTrailers } from '../../../../src/grpcweb/codec.js';
import { ProxyReply, type ProxyCall } from '../../../../src/proxy/call.js';
import type { WebExchange } from '../../../../src/proxy/web/exchange.js';
import { serveGrpcWeb, type WebServeDeps } from '../../../../src/proxy/web/serve.js';

class FakeExchange implements WebExchange {
  readonly protocol = 'http/1.1' as const;
  readonly body = new PassThrough();
  status = 0;
  responseHeaders: Record<string, unknown> = {};
  readonly out: Buffer[] = [];
  ended = false;
  private readonly events = new EventEmitter();
  constructor(
    readonly headers: Record<string, string>,
    readonly method = 'POST',
    readonly path = '/test.Echo/Unary',
    readonly authority = 'web.test',
  ) {}
  respond(status: number, headers: Record<string, unknown>, endStream?: boolean): void {
    this.status = status;
    this.responseHeaders = headers;
    if (endStream === true) this.end();
  }
  write(chunk: Buffer): boolean {
    this.out.push(chunk);
    return true;
  }
  onceDrain(): void {}
  end(): void {
    this.ended = true;
    this.events.emit('close', true);
  }
  get done(): boolean {
    return this.ended;
  }
  onClose(l: (finished: boolean) => void): void {
    this.events.once('close', l);
  }
  trailers(): Record<string, string> | undefined {
    const raw = Buffer.concat(this.out);
    const text = String(this.responseHeaders['content-type']).includes('-text');
    const frames = parseFrames(text ? Buffer.from(raw.toString('latin1'), 'base64') : raw);
    const t = frames.find((f) => (f.flags & 0x80) !== 0);
    return t === undefined ? undefined : parseTrailers(t.data);
  }
}

const peer = { address: '127.0.0.1', port: 1, identity: undefined };
const cors = { allowedOrigins: [], allowedHeaders: [], exposedHeaders: [], maxAgeSeconds: 600 };

function deps(handler: WebServeDeps['handler'], maxRequestBytes = 1024): WebServeDeps & { calls: number[] } {
  const calls: number[] = [];
  return { direction: 'inbound', handler, options: { maxRequestBytes, cors }, onCall: (_p, _e, status) => calls.push(status), calls };
}

describe('serveGrpcWeb', () => {
  it('stops decoding and buffering once the body passes maxRequestBytes, and answers at once', () => {
    const push = vi.spyOn(Base64StreamDecoder.prototype, 'push');
    const handler = vi.fn();
    const d = deps(handler, 1024);
    const ex = new FakeExchange({ 'content-type': 'application/grpc-web-text' });
    serveGrpcWeb(ex, peer, d);
    const chunk = Buffer.alloc(1000, 0x41);
    for (let i = 0; i < 100; i++) ex.body.write(chunk);
    return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      // 1000 chars decode to 750 bytes: the second chunk passes 1024; nothing after it is decoded or kept.
      expect(push).toHaveBeenCalledTimes(2);
      push.mockRestore();
      expect(ex.ended).toBe(true);
      expect(ex.trailers()).toMatchObject({ 'grpc-status': '8', 'x-meshlet-error': 'ERR_GRPCWEB_TOO_LARGE' });
      expect(d.calls).toEqual([8]);
      expect(handler).not.toHaveBeenCalled();
    });
  });

  it('hands the chain a native gRPC call: application/grpc, te: trailers, metadata kept, browser headers dropped', async () => {
    let seen: ProxyCall | undefined;
    const d = deps(async (call) => {
      seen = call;
      const reply = new ProxyReply({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, null);
      reply.finish({ status: 0, message: undefined, error: undefined });
      return reply;
    });
    const ex = new FakeExchange({ 'content-type': 'application/grpc-web+proto', origin: 'https://x.test', 'x-user-agent': 'grpc-web-javascript/0.1', 'x-tenant': 'a', 'grpc-timeout': '5S', 'sec-fetch-mode': 'cors' });
    serveGrpcWeb(ex, peer, d);
    ex.body.end(encodeFrame(0, Buffer.from('hi')));
    await vi.waitFor(() => expect(ex.ended).toBe(true));
    expect(seen?.headers).toMatchObject({ ':method': 'POST', ':path': '/test.Echo/Unary', ':authority': 'web.test', 'content-type': 'application/grpc', te: 'trailers', 'x-tenant': 'a', 'grpc-timeout': '5S' });
    expect(seen?.headers.origin).toBeUndefined();
    expect(seen?.headers['sec-fetch-mode']).toBeUndefined();
    expect(seen?.headers['x-user-agent']).toBeUndefined();
    expect(ex.responseHeaders['content-type']).toBe('application/grpc-web+proto');
    expect(ex.trailers()).toEqual({ 'grpc-status': '0' });
    expect(d.calls).toEqual([0]);
  });

  it('refuses a trailers frame in a request as a bad body', async () => {
    const handler = vi.fn();
    const ex = new FakeExchange({ 'content-type': 'application/grpc-web' });
    serveGrpcWeb(ex, peer, deps(handler));
    ex.body.end(encodeFrame(0x80, Buffer.from('grpc-status: 0\r\n')));
    await vi.waitFor(() => expect(ex.ended).toBe(true));
    expect(ex.trailers()).toMatchObject({ 'grpc-status': '13', 'x-meshlet-error': 'ERR_GRPCWEB_BAD_BODY' });
    expect(handler).not.toHaveBeenCalled();
  });

  it('answers a preflight from an origin that is not allowed with 204 and no CORS headers', () => {
    const rejected: string[] = [];
    const ex = new FakeExchange({ origin: 'https://evil.test', 'access-control-request-method': 'POST' }, 'OPTIONS');
    serveGrpcWeb(ex, peer, { ...deps(vi.fn()), onRejected: (r) => rejected.push(r) });
    expect(ex.status).toBe(204);
    expect(ex.responseHeaders).toEqual({});
    expect(rejected).toEqual(['preflight_origin']);
  });
});
