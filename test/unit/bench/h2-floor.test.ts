// SPDX-License-Identifier: Apache-2.0
// bench/h2-floor.ts is a correct gRPC relay on meshlet's own HTTP/2 engine, or its numbers would mean nothing:
// headers and trailers relayed, large messages both ways, Trailers-Only, downstream cancel → upstream CANCEL,
// upstream reset → UNAVAILABLE (before headers) or RST_STREAM (after), and it survives all of them.

import { type ChildProcess, spawn } from 'node:child_process';
import http2, { type ClientHttp2Session, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;
const GRPC = { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' };

let upstream: Http2Server;
let floor: ChildProcess;
let client: ClientHttp2Session;
/** Request headers of the last call the upstream echoed. */
let echoed: IncomingHttpHeaders = {};
/** Receives the upstream side of the next call on /hang. */
let onHang: (stream: ServerHttp2Stream) => void = () => undefined;

function startUpstream(): Promise<string> {
  upstream = http2.createServer();
  upstream.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => undefined);
    switch (headers[':path']) {
      case '/bench.Echo/Unary': {
        echoed = headers;
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-md': 'h' }, { waitForTrailers: true });
          stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-trailer': 't' }));
          stream.end(Buffer.concat(chunks));
        });
        return;
      }
      case '/trailers-only':
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'nope' }, { endStream: true });
        return;
      case '/no-trailers':
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
        stream.end(Buffer.alloc(5));
        return;
      case '/reset':
        stream.close(NGHTTP2_INTERNAL_ERROR);
        return;
      case '/reset-after-headers':
        // Headers and DATA, then RST_STREAM instead of trailers. (close() on a stream still writable would send
        // END_STREAM first: node:http2 ends the writable side before it resets.)
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.close(NGHTTP2_INTERNAL_ERROR));
        stream.end(Buffer.from([0, 0, 0, 0, 9]));
        return;
      case '/drop-connection':
        stream.session?.destroy();
        return;
      default: // '/hang': never answers
        onHang(stream);
    }
  });
  return new Promise((resolve) => upstream.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(upstream.address() as AddressInfo).port}`)));
}

function startFloor(upstreamAddress: string): Promise<number> {
  floor = spawn(process.execPath, ['--import', 'tsx', 'bench/h2-floor.ts', '--listen', '127.0.0.1:0', '--upstream', upstreamAddress], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    floor.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    floor.once('exit', (code) => reject(new Error(`h2-floor exited (${code}) before listening: ${out}`)));
  });
}

interface Reply {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders | undefined;
  body: Buffer;
  /** RST_STREAM code the call ended with (0 after a normal end). */
  rstCode: number | undefined;
}

function call(path: string, body: Buffer, extra: Record<string, string | string[]> = {}): Promise<Reply> {
  return new Promise((resolve) => {
    const stream = client.request({ ...GRPC, ...extra, ':path': path });
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => undefined); // a reset: 'close' follows with rstCode
    stream.on('close', () => resolve({ headers, trailers, body: Buffer.concat(chunks), rstCode: stream.rstCode }));
    stream.end(body);
  });
}

beforeAll(async () => {
  const port = await startFloor(await startUpstream());
  client = http2.connect(`http://127.0.0.1:${port}`);
});

afterAll(async () => {
  client?.close();
  if (floor && floor.exitCode === null && floor.signalCode === null) {
    const exited = new Promise((resolve) => floor.once('exit', resolve));
    floor.kill('SIGTERM');
    await exited;
  }
  await new Promise((resolve) => upstream?.close(resolve));
});

describe('h2-floor relay', () => {
  it('relays a unary call: request headers as received, body, response metadata and trailers', async () => {
    const body = Buffer.from([0, 0, 0, 0, 3, 10, 1, 120]);
    const r = await call('/bench.Echo/Unary', body, { 'x-req': 'v', 'grpc-timeout': '5S' });
    expect(echoed).toMatchObject({ ':method': 'POST', ':path': '/bench.Echo/Unary', te: 'trailers', 'x-req': 'v', 'grpc-timeout': '5S' });
    expect(r.headers[':status']).toBe(200);
    expect(r.headers['x-md']).toBe('h');
    expect(r.body.equals(body)).toBe(true);
    expect(r.trailers).toMatchObject({ 'grpc-status': '0', 'x-trailer': 't' });
    expect(r.rstCode).toBe(0);
  });

  it('relays a large message both ways through windows smaller than the message (pauses and resumes)', async () => {
    const body = Buffer.alloc(4 << 20);
    for (let i = 0; i < body.length; i += 4096) body[i] = i & 0xff;
    const r = await call('/bench.Echo/Unary', body);
    expect(r.body.equals(body)).toBe(true);
    expect(r.trailers?.['grpc-status']).toBe('0');
  });

  it('passes a Trailers-Only response through as headers with the status', async () => {
    const r = await call('/trailers-only', Buffer.alloc(0));
    expect(r.headers).toMatchObject({ ':status': 200, 'grpc-status': '5', 'grpc-message': 'nope' });
    expect(r.trailers).toBeUndefined();
    expect(r.rstCode).toBe(0);
  });

  it('ends a response the upstream ended without trailers with UNAVAILABLE trailers', async () => {
    const r = await call('/no-trailers', Buffer.alloc(0));
    expect(r.body.length).toBe(5);
    expect(r.trailers?.['grpc-status']).toBe('14');
  });

  it('resets the upstream stream with CANCEL when the client cancels', async () => {
    const upstreamStream = new Promise<ServerHttp2Stream>((resolve) => (onHang = resolve));
    const stream = client.request({ ...GRPC, ':path': '/hang' });
    stream.on('error', () => undefined);
    stream.write(Buffer.from([0, 0, 0, 0, 0]));
    const up = await upstreamStream;
    const closed = new Promise<number | undefined>((resolve) => up.once('close', () => resolve(up.rstCode)));
    stream.close(NGHTTP2_CANCEL);
    expect(await closed).toBe(NGHTTP2_CANCEL);
  });

  it('answers Trailers-Only UNAVAILABLE when the upstream resets before its headers, and keeps serving', async () => {
    const r = await call('/reset', Buffer.alloc(5));
    expect(r.headers).toMatchObject({ ':status': 200, 'grpc-status': '14' });
    expect(r.trailers).toBeUndefined();
    const again = await call('/bench.Echo/Unary', Buffer.alloc(5));
    expect(again.trailers?.['grpc-status']).toBe('0');
    expect(floor.exitCode).toBeNull();
  });

  it('resets the downstream stream when the upstream resets after its headers, and keeps serving', async () => {
    const r = await call('/reset-after-headers', Buffer.alloc(5));
    expect(r.headers[':status']).toBe(200);
    expect(r.trailers).toBeUndefined();
    expect(r.rstCode).toBe(NGHTTP2_INTERNAL_ERROR);
    const again = await call('/bench.Echo/Unary', Buffer.alloc(5));
    expect(again.trailers?.['grpc-status']).toBe('0');
  });

  it('answers UNAVAILABLE when the upstream connection is lost, then serves on a new one', async () => {
    const r = await call('/drop-connection', Buffer.alloc(5));
    expect(r.headers).toMatchObject({ ':status': 200, 'grpc-status': '14' });
    const again = await call('/bench.Echo/Unary', Buffer.alloc(5));
    expect(again.trailers?.['grpc-status']).toBe('0');
  });

  it('exits with code 0 on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => floor.once('exit', (code) => resolve(code)));
    floor.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
