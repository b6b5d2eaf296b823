// SPDX-License-Identifier: Apache-2.0
// Regression guard for the DATA path (issue 14): how many times a sidecar copies the payload of a DATA frame it
// forwards. The engine's reader hands each frame's payload out as a view of the socket read (frame-reader.ts), the
// proxy passes that view through its layers to the other leg, and the write scheduler gives payloads of 4 KiB and
// more to writev as iovecs of their own (write-scheduler.ts, OWN_IOVEC_BYTES). So a large payload leaves the
// sidecar in the very memory it arrived in: zero copies. Smaller payloads are joined with the frames around them
// into one write buffer: one copy, on purpose (one syscall, no per-buffer write request).
//
// How: a real sidecar in this process, a real upstream, real sockets. Spies record every DATA payload the sidecar's
// connections are handed (H2Connection#onFrame) and every buffer written to a socket (net.Socket#write). A payload
// byte counts as forwarded without a copy when the buffer written for it on the other leg is a view of the same
// memory (same ArrayBuffer, same offset). Independent of how TCP splits the bytes: a frame that spans two reads is
// copied once by the reader (its own, counted separately) and that copy is what must go out unchanged.

import net from 'node:net';
import type http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { H2Connection } from '../../src/h2/connection.js';
import { FrameType } from '../../src/h2/frame.js';
import type { H2Stream } from '../../src/h2/stream.js';
import { connectEngine, patternBytes, readAll, startEngineServer, Tracker } from '../helpers/h2-peers.js';
import { startSidecar } from '../helpers/sidecar.js';

const t = new Tracker();
afterEach(() => t.closeAll());

interface Seen {
  socket: net.Socket;
  streamId: number;
  payload: Buffer;
}

/** Records DATA payloads delivered to connections and buffers written to sockets, until `stop()`. */
function spy(): { delivered: Seen[]; written: Seen[]; stop: () => void } {
  const delivered: Seen[] = [];
  const written: Seen[] = [];
  const onFrame = H2Connection.prototype.onFrame;
  const write = net.Socket.prototype.write;
  H2Connection.prototype.onFrame = function (this: H2Connection, type, flags, streamId, buf, start, end, flowLength) {
    if (type === FrameType.DATA && end > start) delivered.push({ socket: this.socket, streamId, payload: buf.subarray(start, end) });
    return onFrame.call(this, type, flags, streamId, buf, start, end, flowLength);
  };
  net.Socket.prototype.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]) {
    if (Buffer.isBuffer(chunk)) written.push({ socket: this, streamId: 0, payload: chunk });
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof write;
  const stop = (): void => {
    H2Connection.prototype.onFrame = onFrame;
    net.Socket.prototype.write = write;
  };
  t.add(stop);
  return { delivered, written, stop };
}

interface Account {
  /** Payload bytes written as views of the memory they were delivered in. */
  views: number;
  /** Payload bytes that went out in some other buffer (a copy). */
  copied: number;
  /** Written buffers holding a copy of some payload's bytes. */
  carriers: number;
}

function account(payloads: Buffer[], writes: Buffer[]): Account {
  let views = 0;
  for (const p of payloads) {
    for (const w of writes) {
      if (w.buffer !== p.buffer) continue;
      const start = Math.max(w.byteOffset, p.byteOffset);
      const end = Math.min(w.byteOffset + w.length, p.byteOffset + p.length);
      if (end > start) views += end - start;
    }
  }
  const total = payloads.reduce((n, p) => n + p.length, 0);
  const carriers = writes.filter((w) => payloads.some((p) => w.buffer !== p.buffer && p.length >= 16 && w.includes(p))).length;
  return { views, copied: total - views, carriers };
}

const GRPC_REQUEST = {
  ':method': 'POST',
  ':path': '/bench.Echo/Unary',
  ':scheme': 'http',
  ':authority': 'echo',
  'content-type': 'application/grpc',
  te: 'trailers',
};

/** One gRPC message of `size` payload bytes (5-byte prefix + pattern), as one buffer. */
function grpcMessage(size: number, seed: number): Buffer {
  const body = patternBytes(size, seed);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(size, 1);
  return Buffer.concat([prefix, body]);
}

/** An app that echoes every request message back, on meshlet's engine. */
async function echoApp(): Promise<{ port: number }> {
  return startEngineServer(t, (stream: H2Stream, _headers: http2.IncomingHttpHeaders) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    stream.on('data', (c: Buffer) => stream.write(c));
    stream.on('end', () => stream.sendTrailers({ 'grpc-status': '0' }));
  });
}

/** Sends one message through a sidecar to the echo app; returns what the spies saw on each leg of the sidecar. */
async function forwardOne(message: Buffer): Promise<{ request: Account; response: Account; echoed: Buffer }> {
  const app = await echoApp();
  const sidecar = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: `127.0.0.1:${app.port}` } }, { level: 'silent' });
  t.add(() => sidecar.close());
  const inboundPort = Number((sidecar.inbound as string).split(':')[1]);
  const client = await connectEngine(t, inboundPort);
  const s = spy();
  const stream = client.request(GRPC_REQUEST);
  const echoed = readAll(stream);
  stream.end(message);
  const body = await echoed;
  s.stop();
  // The sidecar's downstream leg: the socket the sidecar accepted (local port = its inbound port). Its upstream leg:
  // the socket it opened to the app (remote port = the app's port) — not the app's own accepted socket.
  const downstream = (x: net.Socket): boolean => x.localPort === inboundPort;
  const upstream = (x: net.Socket): boolean => x.remotePort === app.port;
  // Only the call's stream (the sidecar also probes the app's health, on the same connection).
  const payloadsOn = (pred: (x: net.Socket) => boolean): Buffer[] => {
    const mine = s.delivered.filter((d) => pred(d.socket));
    const call = mine.find((d) => d.payload.length >= 16 && message.includes(d.payload))?.streamId;
    return mine.filter((d) => d.streamId === call).map((d) => d.payload);
  };
  const writesOn = (pred: (x: net.Socket) => boolean): Buffer[] => s.written.filter((w) => pred(w.socket)).map((w) => w.payload);
  return {
    request: account(payloadsOn(downstream), writesOn(upstream)),
    response: account(payloadsOn(upstream), writesOn(downstream)),
    echoed: body,
  };
}

describe('DATA payload copies through one sidecar (regression guard)', () => {
  it('a 256 KiB message: every DATA payload leaves in the memory it arrived in, both ways (0 copies)', async () => {
    // 5 + 262139 bytes = sixteen full 16 KiB frames, so no small tail frame (that one would be joined, as below).
    const message = grpcMessage(256 * 1024 - 5, 7);
    const r = await forwardOne(message);
    expect(r.echoed.equals(message)).toBe(true);
    // All of the message crossed each leg as DATA (frames of at most 16 KiB, so 16+ payloads a way).
    expect(r.request.views + r.request.copied).toBe(message.length);
    expect(r.response.views + r.response.copied).toBe(message.length);
    expect(r.request).toMatchObject({ views: message.length, copied: 0, carriers: 0 });
    expect(r.response).toMatchObject({ views: message.length, copied: 0, carriers: 0 });
  });

  it('a 100-byte message: its payload goes out inside one joined write buffer a way, not as a view', async () => {
    const message = grpcMessage(100, 3);
    const r = await forwardOne(message);
    expect(r.echoed.equals(message)).toBe(true);
    expect(r.request).toMatchObject({ views: 0, copied: message.length });
    expect(r.response).toMatchObject({ views: 0, copied: message.length });
    expect(r.request.carriers).toBe(1);
    expect(r.response.carriers).toBe(1);
  });
});
