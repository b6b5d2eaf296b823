// SPDX-License-Identifier: Apache-2.0
// The raw-frame client of the RFC 9113 / RFC 7541 conformance tests (test/conformance): meshlet's HTTP/2 engine as a
// server on 127.0.0.1 port 0, with a small app that echoes each request once it ended (or holds it, on `/hold`),
// and a RawPeer (test/helpers/h2-peers.ts) that writes hand-built frames and checks the answer: a stream error
// (RST_STREAM with a code), a connection error (GOAWAY with a code, then the socket closed), or nothing (the
// connection still answers a PING and sent no RST_STREAM or GOAWAY). h2spec is not installed on this machine; these
// tests check the same MUSTs.

import type { IncomingHttpHeaders } from 'node:http2';
import { afterEach, expect } from 'vitest';
import type { H2ConnectionOptions } from '../../src/h2/connection.js';
import { ErrorCode, Flags, FrameType } from '../../src/h2/frame.js';
import type { H2Stream } from '../../src/h2/stream.js';
import { pingBarrier, rawFrame, RawPeer, requestList, startEngineServer, Tracker } from '../helpers/h2-peers.js';

export { ErrorCode, Flags, FrameType, rawFrame, requestList };

/** What the app saw of one request. */
export interface AppRequest {
  headers: IncomingHttpHeaders;
  body: Buffer[];
  ended: boolean;
  closed: boolean;
}

/** A running engine server with a raw peer connected to it. */
export interface Conformance {
  peer: RawPeer;
  /** Requests the app received, by stream id. */
  requests: Map<number, AppRequest>;
}

/** Per test file: closes what each test started. */
export function useConformance(): (opts?: Omit<H2ConnectionOptions, 'role'>, settings?: Array<[number, number]>) => Promise<Conformance> {
  const t = new Tracker();
  afterEach(() => t.closeAll());
  return async (opts = {}, settings = []) => {
    const requests = new Map<number, AppRequest>();
    const { port } = await startEngineServer(t, (stream: H2Stream, headers) => app(stream, headers, requests), opts);
    const peer = await RawPeer.connect(t, port, settings);
    return { peer, requests };
  };
}

/**
 * Echoes the request body once the request ended, as a gRPC response with trailers; `/hold` is never answered;
 * `/paused` is never read either.
 */
function app(stream: H2Stream, headers: IncomingHttpHeaders, requests: Map<number, AppRequest>): void {
  const req: AppRequest = { headers, body: [], ended: false, closed: false };
  requests.set(stream.id, req);
  stream.on('close', () => {
    req.closed = true;
  });
  if (headers[':path'] === '/paused') {
    stream.pause(); // never reads: its window is never credited
    return;
  }
  stream.on('data', (c: Buffer) => req.body.push(c));
  stream.on('end', () => {
    req.ended = true;
    if (headers[':path'] === '/hold' || stream.closed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    stream.write(Buffer.concat(req.body));
    stream.sendTrailers({ 'grpc-status': '0' });
  });
}

/** A DATA frame with `payload` (default 5 bytes). */
export function data(streamId: number, endStream: boolean, payload: Buffer = Buffer.alloc(5)): Buffer {
  return rawFrame(FrameType.DATA, endStream ? Flags.END_STREAM : 0, streamId, payload);
}

/** A HEADERS frame with a request on `streamId` (the peer's HPACK encoder, so blocks stay in sync). */
export function request(peer: RawPeer, streamId: number, endStream: boolean, path = '/svc/Method', extra: string[] = []): Buffer {
  return peer.headers(streamId, requestList(path, extra), endStream);
}

/** PING payloads of the barriers: each new, so a barrier never matches an earlier ACK. */
let barriers = 0x1000;

/** Expects RST_STREAM `code` on `streamId` (a stream error, RFC 9113 §5.4.2), and the connection to stay up. */
export async function expectStreamError(peer: RawPeer, streamId: number, code: number): Promise<void> {
  const rst = await peer.waitFrame((f) => f.type === FrameType.RST_STREAM && f.streamId === streamId, `RST_STREAM on ${streamId}`);
  expect(rst.payload.readUInt32BE(0), `RST_STREAM code on stream ${streamId}`).toBe(code);
  await pingBarrier(peer, ++barriers);
  expect(goaway(peer), 'no GOAWAY after a stream error').toBeUndefined();
}

/** Expects GOAWAY `code` (a connection error, RFC 9113 §5.4.1), then the socket closed. */
export async function expectConnectionError(peer: RawPeer, code: number): Promise<void> {
  const frame = await peer.waitFrame((f) => f.type === FrameType.GOAWAY, 'GOAWAY');
  expect(frame.payload.readUInt32BE(4), `GOAWAY code (${frame.payload.subarray(8).toString()})`).toBe(code);
  await peer.waitClosed();
}

/** Expects the frames sent so far to have been ignored: a PING still answered, no RST_STREAM on `streamId`, no GOAWAY. */
export async function expectIgnored(peer: RawPeer, streamId?: number): Promise<void> {
  await pingBarrier(peer, ++barriers);
  expect(goaway(peer), 'no GOAWAY').toBeUndefined();
  if (streamId !== undefined) expect(peer.frames.some((f) => f.type === FrameType.RST_STREAM && f.streamId === streamId), `no RST_STREAM on ${streamId}`).toBe(false);
}

/** Waits for the end of the response on `streamId` (HEADERS or DATA with END_STREAM): the stream is closed both ways. */
export async function responseEnded(peer: RawPeer, streamId: number): Promise<void> {
  await peer.waitFrame((f) => f.streamId === streamId && (f.type === FrameType.HEADERS || f.type === FrameType.DATA) && (f.flags & Flags.END_STREAM) !== 0, `end of response ${streamId}`);
}

function goaway(peer: RawPeer): unknown {
  return peer.frames.find((f) => f.type === FrameType.GOAWAY);
}

/** A 32-bit big-endian value. */
export function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  return b;
}
