// SPDX-License-Identifier: Apache-2.0
// bench/node-floor.ts is a correct gRPC relay, or its numbers would mean nothing: echo with trailers, Trailers-Only,
// downstream cancel → upstream CANCEL, upstream reset → UNAVAILABLE, and it survives all of them.

import http2, { type ServerHttp2Stream } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FloorRelay, GRPC } from '../../helpers/floor-relay.js';

const { NGHTTP2_CANCEL } = http2.constants;
const relay = new FloorRelay();
const call = relay.call.bind(relay);

beforeAll(() => relay.start('bench/node-floor.ts'));
afterAll(() => relay.stop());

describe('node-floor relay', () => {
  it('relays a unary call: body, response metadata and trailers', async () => {
    const body = Buffer.from([0, 0, 0, 0, 3, 10, 1, 120]);
    const r = await call('/bench.Echo/Unary', body);
    expect(r.headers[':status']).toBe(200);
    expect(r.headers['x-md']).toBe('h');
    expect(r.body.equals(body)).toBe(true);
    expect(r.trailers).toMatchObject({ 'grpc-status': '0', 'x-trailer': 't' });
  });

  it('relays a large message both ways with back-pressure', async () => {
    const body = Buffer.alloc(4 << 20, 7);
    const r = await call('/bench.Echo/Unary', body);
    expect(r.body.length).toBe(body.length);
    expect(r.trailers?.['grpc-status']).toBe('0');
  });

  it('passes a Trailers-Only response through as headers with the status', async () => {
    const r = await call('/trailers-only', Buffer.alloc(0));
    expect(r.headers).toMatchObject({ ':status': 200, 'grpc-status': '5', 'grpc-message': 'nope' });
    expect(r.trailers).toBeUndefined();
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

  it('answers UNAVAILABLE when the upstream resets the stream, and keeps serving', async () => {
    const r = await call('/reset', Buffer.alloc(5));
    expect(r.headers['grpc-status'] ?? r.trailers?.['grpc-status']).toBe('14');
    const again = await call('/bench.Echo/Unary', Buffer.alloc(5));
    expect(again.trailers?.['grpc-status']).toBe('0');
    expect(relay.floor.exitCode).toBeNull();
  });
});
