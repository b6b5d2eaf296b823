// SPDX-License-Identifier: Apache-2.0
// bench/h2-floor.ts is a correct gRPC relay on meshlet's own HTTP/2 engine, or its numbers would mean nothing:
// headers and trailers relayed, large messages both ways, Trailers-Only, downstream cancel → upstream CANCEL,
// upstream reset → UNAVAILABLE (before headers) or RST_STREAM (after), and it survives all of them.

import http2, { type ServerHttp2Stream } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FloorRelay, GRPC } from '../../helpers/floor-relay.js';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;
const relay = new FloorRelay();
const call = relay.call.bind(relay);

beforeAll(() => relay.start('bench/h2-floor.ts'));
afterAll(() => relay.stop());

describe('h2-floor relay', () => {
  it('relays a unary call: request headers as received, body, response metadata and trailers', async () => {
    const body = Buffer.from([0, 0, 0, 0, 3, 10, 1, 120]);
    const r = await call('/bench.Echo/Unary', body, { 'x-req': 'v', 'grpc-timeout': '5S' });
    expect(relay.echoed).toMatchObject({ ':method': 'POST', ':path': '/bench.Echo/Unary', te: 'trailers', 'x-req': 'v', 'grpc-timeout': '5S' });
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
    const upstreamStream = new Promise<ServerHttp2Stream>((resolve) => (relay.onHang = resolve));
    const stream = relay.client.request({ ...GRPC, ':path': '/hang' });
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
    expect(relay.floor.exitCode).toBeNull();
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
    const exited = new Promise<number | null>((resolve) => relay.floor.once('exit', (code) => resolve(code)));
    relay.floor.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
