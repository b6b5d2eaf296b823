// SPDX-License-Identifier: Apache-2.0
// Peers for the HTTP/2 engine's conformance tests (test/unit/h2): our H2Connection as server or client on
// 127.0.0.1 port 0, node:http2 as the other side, and a raw socket peer that writes hand-built frames and parses
// what the engine answers. Everything started is registered with `track` so afterEach can close it.

import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { H2Connection, type H2ConnectionOptions } from '../../src/h2/connection.js';
import { CONNECTION_PREFACE, encodeHeaders, encodeSettings, encodeSettingsAck, FrameType, Flags } from '../../src/h2/frame.js';
import { FrameReader, type FrameSink } from '../../src/h2/frame-reader.js';
import { HpackDecoder } from '../../src/h2/hpack/decoder.js';
import { HpackEncoder } from '../../src/h2/hpack/encoder.js';
import type { H2Stream } from '../../src/h2/stream.js';

/** Things to close after each test, newest first. */
export class Tracker {
  private readonly closers: Array<() => Promise<void> | void> = [];

  add(fn: () => Promise<void> | void): void {
    this.closers.push(fn);
  }

  async closeAll(): Promise<void> {
    while (this.closers.length > 0) await this.closers.pop()?.();
  }
}

function closeNetServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Our engine as the server: every accepted socket becomes an H2Connection (collected in `conns`). */
export async function startEngineServer(
  t: Tracker,
  onStream: (stream: H2Stream, headers: http2.IncomingHttpHeaders, conn: H2Connection) => void,
  opts: Omit<H2ConnectionOptions, 'role'> = {},
): Promise<{ port: number; conns: H2Connection[]; nextConn: () => Promise<H2Connection> }> {
  const conns: H2Connection[] = [];
  const waiters: Array<(c: H2Connection) => void> = [];
  const server = net.createServer((socket) => {
    const conn = new H2Connection(socket, { ...opts, role: 'server' });
    conns.push(conn);
    conn.on('stream', (stream: H2Stream, headers: http2.IncomingHttpHeaders) => onStream(stream, headers, conn));
    waiters.shift()?.(conn);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.add(async () => {
    for (const c of conns) c.destroy();
    await closeNetServer(server);
  });
  const port = (server.address() as net.AddressInfo).port;
  let taken = 0;
  const nextConn = (): Promise<H2Connection> => {
    const i = taken++;
    if (conns[i] !== undefined) return Promise.resolve(conns[i]);
    return new Promise((resolve) => waiters.push(resolve));
  };
  return { port, conns, nextConn };
}

/** Our engine as the client over net.connect; resolves once the server's SETTINGS arrived. */
export async function connectEngine(t: Tracker, port: number, opts: Omit<H2ConnectionOptions, 'role'> = {}): Promise<H2Connection> {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
  const conn = new H2Connection(socket, { ...opts, role: 'client' });
  t.add(() => conn.destroy());
  await once(conn, 'remoteSettings');
  return conn;
}

/** A node:http2 server; its sessions are destroyed on cleanup. */
export async function startNodeServer(
  t: Tracker,
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => void,
  opts: http2.ServerOptions = {},
): Promise<{ port: number; server: http2.Http2Server; sessions: http2.ServerHttp2Session[] }> {
  const server = http2.createServer(opts);
  const sessions: http2.ServerHttp2Session[] = [];
  server.on('session', (s) => {
    sessions.push(s);
    s.on('error', () => {});
  });
  server.on('stream', onStream);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.add(async () => {
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as net.AddressInfo).port, server, sessions };
}

/** A node:http2 client session. */
export async function connectNode(t: Tracker, port: number, opts: http2.ClientSessionOptions = {}): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`, opts);
  session.on('error', () => {});
  t.add(() => {
    session.destroy();
  });
  await once(session, 'remoteSettings');
  return session;
}

/** Collects a readable's bytes until 'end'. */
export function readAll(stream: NodeJS.EventEmitter): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** Deterministic pseudo-random bytes (xorshift32), so a corrupted byte anywhere in a large body is detected. */
export function patternBytes(size: number, seed = 1): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf.writeUInt32LE(x, i);
  }
  for (; i < size; i++) buf[i] = i & 0xff;
  return buf;
}

/**
 * Writes `body` to `w` in `chunkBytes` pieces honouring write()'s back-pressure ('drain'), then ends it. Returns the
 * largest `pendingBytes` seen when the writer exposes it (our H2Stream), to check nothing piles up.
 */
export async function writeWithBackpressure(
  w: { write(b: Buffer): boolean; end(): unknown; once(e: 'drain', l: () => void): unknown },
  body: Buffer,
  chunkBytes = 64 * 1024,
): Promise<number> {
  let maxPending = 0;
  for (let off = 0; off < body.length; off += chunkBytes) {
    const ok = w.write(body.subarray(off, Math.min(off + chunkBytes, body.length)));
    const pending = (w as { pendingBytes?: number }).pendingBytes;
    if (pending !== undefined && pending > maxPending) maxPending = pending;
    if (!ok) await new Promise<void>((resolve) => w.once('drain', resolve));
  }
  w.end();
  return maxPending;
}

/** One frame as the raw peer saw it (payload copied; padding and priority already stripped by FrameReader). */
export interface RawFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
  /** Decoded header list for HEADERS (joined with CONTINUATIONs), else undefined. */
  headers?: string[];
}

/**
 * A raw HTTP/2 peer over net.Socket: writes whatever bytes a test builds, parses the frames the engine sends back
 * (HPACK-decoding header blocks) and reports the socket's end.
 */
export class RawPeer implements FrameSink {
  readonly frames: RawFrame[] = [];
  readonly encoder = new HpackEncoder();
  readonly decoder = new HpackDecoder();
  closed = false;
  /** A framing error in what the engine sent (a test failure by itself). */
  parseError: Error | undefined;
  private readonly reader: FrameReader;
  private readonly waiters: Array<() => void> = [];
  private block: { streamId: number; flags: number; chunks: Buffer[] } | undefined;

  constructor(
    readonly socket: net.Socket,
    expectPreface: boolean,
  ) {
    this.reader = new FrameReader(this, 16777215);
    if (expectPreface) this.reader.expectPreface();
    socket.on('data', (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
      } catch (err) {
        this.parseError = err as Error;
      }
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** Connects to an engine server, sends the preface and empty SETTINGS, and acks the server's SETTINGS. */
  static async connect(
    t: Tracker,
    port: number,
    settings: ReadonlyArray<readonly [number, number]> = [],
    preface: Buffer | undefined = CONNECTION_PREFACE,
  ): Promise<RawPeer> {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const peer = new RawPeer(socket, false);
    t.add(() => {
      socket.destroy();
    });
    await once(socket, 'connect');
    if (preface !== undefined) {
      socket.write(Buffer.concat([preface, encodeSettings(settings)]));
      await peer.waitFrame((f) => f.type === FrameType.SETTINGS && (f.flags & Flags.ACK) === 0);
      socket.write(encodeSettingsAck());
    }
    return peer;
  }

  onFrame(type: number, flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    const frame: RawFrame = { type, flags, streamId, payload: Buffer.from(buf.subarray(start, end)) };
    if (type === FrameType.HEADERS || type === FrameType.CONTINUATION) {
      if (type === FrameType.HEADERS) this.block = { streamId, flags, chunks: [] };
      this.block?.chunks.push(frame.payload);
      if ((flags & Flags.END_HEADERS) !== 0 && this.block !== undefined) {
        const block = Buffer.concat(this.block.chunks);
        const list: string[] = [];
        this.decoder.decode(block, 0, block.length, list);
        frame.headers = list;
        this.block = undefined;
      }
    }
    this.frames.push(frame);
  }

  write(...bufs: Buffer[]): void {
    this.socket.write(Buffer.concat(bufs));
  }

  /** HEADERS (+ CONTINUATION) frame(s) for a header list given as flat pairs. */
  headers(streamId: number, list: string[], endStream: boolean): Buffer {
    return encodeHeaders(streamId, this.encoder.encode(list), endStream, 16384);
  }

  /** Resolves with the first frame (already seen or future) matching `pred`; rejects if the socket closes first. */
  async waitFrame(pred: (f: RawFrame) => boolean, label = 'frame'): Promise<RawFrame> {
    for (;;) {
      const f = this.frames.find(pred);
      if (f !== undefined) return f;
      if (this.closed) throw new Error(`socket closed before ${label}; got ${this.describe()}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Resolves once the engine closed the socket. */
  async waitClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Frame types and flags seen so far, for failure messages. */
  describe(): string {
    return this.frames.map((f) => `${f.type}/${f.flags}/${f.streamId}`).join(' ');
  }

  private wake(): void {
    const waiters = this.waiters.splice(0);
    for (const w of waiters) w();
  }
}

/** Minimal valid request header list for the raw peer. */
export function requestList(path = '/svc/Method', extra: string[] = []): string[] {
  return [':method', 'POST', ':scheme', 'http', ':authority', 'localhost', ':path', path, 'content-type', 'application/grpc', 'te', 'trailers', ...extra];
}

/** Any frame, built by hand (for frames the engine never sends, or sends only valid: DATA with a payload, bare
 *  CONTINUATION, PUSH_PROMISE, ...). */
export function rawFrame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const buf = Buffer.allocUnsafe(9 + payload.length);
  buf.writeUIntBE(payload.length, 0, 3);
  buf[3] = type;
  buf[4] = flags;
  buf.writeUInt32BE(streamId, 5);
  payload.copy(buf, 9);
  return buf;
}

/** Total DATA payload bytes the raw peer received on `streamId`. */
export function dataBytes(peer: RawPeer, streamId: number): number {
  let n = 0;
  for (const f of peer.frames) if (f.type === FrameType.DATA && f.streamId === streamId) n += f.payload.length;
  return n;
}

/** A PING the raw peer sends, and waits for its ACK: every frame the engine queued before it has arrived then. */
export async function pingBarrier(peer: RawPeer, tag: number): Promise<void> {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(tag, 4);
  peer.write(rawFrame(FrameType.PING, 0, 0, payload));
  await peer.waitFrame((f) => f.type === FrameType.PING && (f.flags & Flags.ACK) !== 0 && f.payload.equals(payload), `PING ACK ${tag}`);
}
