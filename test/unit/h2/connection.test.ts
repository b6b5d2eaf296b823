// SPDX-License-Identifier: Apache-2.0
// H2Connection conformance: GOAWAY both ways, ping, SETTINGS changes, stream limits, many streams, connection loss
// (against node:http2), and protocol errors / malformed requests from a raw peer writing hand-built frames.

import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { H2Connection } from '../../../src/h2/connection.js';
import { encodeWindowUpdate, encodeSettings, ErrorCode, Flags, FrameType, SettingId } from '../../../src/h2/frame.js';
import type { H2Stream } from '../../../src/h2/stream.js';
import {
  connectEngine,
  connectNode,
  dataBytes,
  pingBarrier,
  RawPeer,
  rawFrame,
  readAll,
  requestList,
  startEngineServer,
  startNodeServer,
  Tracker,
} from '../../helpers/h2-peers.js';

const t = new Tracker();
afterEach(() => t.closeAll());

const GRPC_REQUEST = { ':method': 'POST', ':path': '/echo.Echo/Call', ':scheme': 'http', ':authority': 'localhost', 'content-type': 'application/grpc', te: 'trailers' };

function echo(stream: H2Stream): void {
  stream.respond({ ':status': 200 });
  stream.on('data', (c: Buffer) => stream.write(c));
  stream.on('end', () => stream.sendTrailers({ 'grpc-status': '0' }));
}

function closedPromise(emitter: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => emitter.once('close', () => resolve()));
}

async function waitFor(pred: () => boolean, label: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for: ${label}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('GOAWAY, close and ping with node:http2', () => {
  it('client: streams above the GOAWAY last-stream-id close with REFUSED_STREAM, those below finish', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    const srv = await startNodeServer(t, (stream) => {
      held.push(stream);
      stream.on('error', () => {}); // node itself refuses stream 5 after its GOAWAY
      stream.resume();
    });
    const conn = await connectEngine(t, srv.port);
    let connCloses = 0;
    conn.on('close', () => connCloses++);
    const streams = [1, 2, 3].map(() => conn.request(GRPC_REQUEST));
    for (const s of streams) s.end().resume(); // a client stream reports 'close' after its body was read (as node)
    await waitFor(() => held.length === 3, 'three streams at the server');
    const goaway = once(conn, 'goaway');
    const refused = closedPromise(streams[2] as H2Stream);
    (srv.sessions[0] as http2.ServerHttp2Session).goaway(http2.constants.NGHTTP2_NO_ERROR, 3);
    const [code, lastStreamId] = await goaway;
    expect([code, lastStreamId]).toEqual([0, 3]);
    await refused;
    expect((streams[2] as H2Stream).rstCode).toBe(ErrorCode.REFUSED_STREAM);
    expect(() => conn.request(GRPC_REQUEST)).toThrow(/no longer accepts streams/);
    // streams 1 and 3 are still served
    for (const s of held.slice(0, 2)) s.respond({ ':status': 200 }, { endStream: true });
    await Promise.all(streams.slice(0, 2).map((s) => closedPromise(s)));
    expect(streams.map((s) => s.rstCode)).toEqual([0, 0, 7]);
    await waitFor(() => connCloses > 0, 'connection close after the last stream');
    expect(connCloses).toBe(1);
  });

  it('client: node session.close() lets the in-flight stream finish, then the connection closes once', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    const srv = await startNodeServer(t, (stream) => {
      held.push(stream);
      stream.resume();
    });
    const conn = await connectEngine(t, srv.port);
    let closes = 0;
    conn.on('close', () => closes++);
    const s = conn.request(GRPC_REQUEST);
    s.end();
    await waitFor(() => held.length === 1, 'stream at the server');
    const goaway = once(conn, 'goaway');
    (srv.sessions[0] as http2.ServerHttp2Session).close();
    await goaway;
    expect(s.closed).toBe(false);
    const body = readAll(s);
    (held[0] as http2.ServerHttp2Stream).respond({ ':status': 200 });
    (held[0] as http2.ServerHttp2Stream).end('bye');
    expect((await body).toString()).toBe('bye');
    await waitFor(() => closes > 0, 'connection close');
    expect(s.rstCode).toBe(0);
    expect(closes).toBe(1);
    expect(conn.closeError).toBeUndefined();
  });

  it('server: close() sends GOAWAY, in-flight streams finish, new streams are refused', async () => {
    const held: H2Stream[] = [];
    const srv = await startEngineServer(t, (stream) => {
      held.push(stream);
      stream.on('data', () => {});
    });
    const peer = await RawPeer.connect(t, srv.port);
    peer.write(peer.headers(1, requestList(), true));
    await waitFor(() => held.length === 1, 'stream 1 at the server');
    const conn = (await srv.nextConn()) as H2Connection;
    conn.close();
    const goaway = await peer.waitFrame((f) => f.type === FrameType.GOAWAY, 'GOAWAY');
    expect(goaway.payload.readUInt32BE(0)).toBe(1);
    expect(goaway.payload.readUInt32BE(4)).toBe(ErrorCode.NO_ERROR);
    // a stream opened after our GOAWAY is refused (safe to retry elsewhere)
    peer.write(peer.headers(3, requestList(), true));
    const rst = await peer.waitFrame((f) => f.type === FrameType.RST_STREAM && f.streamId === 3, 'RST 3');
    expect(rst.payload.readUInt32BE(0)).toBe(ErrorCode.REFUSED_STREAM);
    expect(held.length).toBe(1);
    // the in-flight stream still completes, then the connection ends
    (held[0] as H2Stream).respond({ ':status': 200, 'grpc-status': '0' }, true);
    const response = await peer.waitFrame((f) => f.type === FrameType.HEADERS && f.streamId === 1, 'response 1');
    expect(response.flags & Flags.END_STREAM).toBe(Flags.END_STREAM);
    await peer.waitClosed();
    expect(conn.destroyed).toBe(true);
  });

  it('server: close() with a node client: the open call finishes and node sees GOAWAY', async () => {
    let server: H2Stream | undefined;
    const srv = await startEngineServer(t, (stream) => {
      server = stream;
      stream.on('data', () => {});
    });
    const session = await connectNode(t, srv.port);
    const req = session.request(GRPC_REQUEST);
    req.end();
    await waitFor(() => server !== undefined, 'stream at the server');
    const goaway = once(session, 'goaway');
    (srv.conns[0] as H2Connection).close();
    await goaway;
    const body = readAll(req);
    (server as H2Stream).respond({ ':status': 200 });
    (server as H2Stream).end(Buffer.from('done'));
    expect((await body).toString()).toBe('done');
    await closedPromise(session);
  });

  it('answers node pings and gets node to answer ours', async () => {
    const srv = await startEngineServer(t, echo);
    const session = await connectNode(t, srv.port);
    const [err, , payload] = await new Promise<[Error | null, number, Buffer]>((resolve) =>
      session.ping(Buffer.from('abcdefgh'), (e, d, p) => resolve([e, d, p])),
    );
    expect(err).toBeNull();
    expect(payload.toString()).toBe('abcdefgh');
    const conn = srv.conns[0] as H2Connection;
    await new Promise<void>((resolve, reject) => conn.ping((e) => (e ? reject(e) : resolve())));
    // a ping pending when the connection dies fails instead of hanging
    const pending = new Promise<Error | null>((resolve) => conn.ping(resolve));
    conn.destroy();
    expect(await pending).toBeInstanceOf(Error);
  });
});

describe('flow control and stream limits', () => {
  it('follows peer SETTINGS_INITIAL_WINDOW_SIZE changes mid-transfer, including a negative window', async () => {
    const body = Buffer.alloc(10000, 0x61);
    const srv = await startEngineServer(t, (stream) => {
      stream.respond({ ':status': 200 });
      stream.end(body);
    });
    const peer = await RawPeer.connect(t, srv.port, [[SettingId.INITIAL_WINDOW_SIZE, 1000]]);
    peer.write(peer.headers(1, requestList(), true));
    await waitFor(() => dataBytes(peer, 1) === 1000, '1000 bytes');
    await pingBarrier(peer, 1);
    expect(dataBytes(peer, 1)).toBe(1000);
    peer.write(encodeSettings([[SettingId.INITIAL_WINDOW_SIZE, 3000]]));
    await waitFor(() => dataBytes(peer, 1) === 3000, '3000 bytes');
    await pingBarrier(peer, 2);
    expect(dataBytes(peer, 1)).toBe(3000);
    // lowering the setting makes the window negative (1000 - 3000 sent = -2000): a 2500 update leaves 500
    peer.write(encodeSettings([[SettingId.INITIAL_WINDOW_SIZE, 1000]]), encodeWindowUpdate(1, 2500));
    await waitFor(() => dataBytes(peer, 1) === 3500, '3500 bytes');
    await pingBarrier(peer, 3);
    expect(dataBytes(peer, 1)).toBe(3500);
    peer.write(encodeWindowUpdate(1, 100000));
    const end = await peer.waitFrame((f) => f.type === FrameType.DATA && f.streamId === 1 && (f.flags & Flags.END_STREAM) !== 0, 'END_STREAM');
    expect(end).toBeDefined();
    expect(dataBytes(peer, 1)).toBe(10000);
  });

  it('a paused reader sends no WINDOW_UPDATE; resuming credits the window again', async () => {
    let server: H2Stream | undefined;
    const srv = await startEngineServer(
      t,
      (stream) => {
        server = stream;
        stream.pause();
      },
      { streamWindowBytes: 65535 },
    );
    const peer = await RawPeer.connect(t, srv.port);
    peer.write(peer.headers(1, requestList(), false));
    for (let i = 0; i < 4; i++) peer.write(rawFrame(FrameType.DATA, 0, 1, Buffer.alloc(16383, i)));
    await pingBarrier(peer, 1);
    expect((server as H2Stream).recvWindow).toBe(65535 - 4 * 16383);
    expect(peer.frames.some((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 1)).toBe(false);
    let got = 0;
    (server as H2Stream).on('data', (c: Buffer) => (got += c.length));
    (server as H2Stream).resume();
    const update = await peer.waitFrame((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 1, 'stream WINDOW_UPDATE');
    expect(update.payload.readUInt32BE(0)).toBeGreaterThan(0);
    expect(got).toBe(4 * 16383);
  });

  it('refuses streams beyond the advertised MAX_CONCURRENT_STREAMS with REFUSED_STREAM', async () => {
    const held: H2Stream[] = [];
    const srv = await startEngineServer(
      t,
      (stream) => {
        held.push(stream);
        stream.on('data', () => {});
      },
      { maxConcurrentStreams: 2 },
    );
    const peer = await RawPeer.connect(t, srv.port);
    const settings = peer.frames.find((f) => f.type === FrameType.SETTINGS && (f.flags & Flags.ACK) === 0);
    const ids = [];
    for (let i = 0; i < (settings?.payload.length ?? 0); i += 6) ids.push([settings?.payload.readUInt16BE(i), settings?.payload.readUInt32BE(i + 2)]);
    expect(ids).toContainEqual([SettingId.MAX_CONCURRENT_STREAMS, 2]);
    peer.write(peer.headers(1, requestList(), false), peer.headers(3, requestList(), false), peer.headers(5, requestList(), false));
    const rst = await peer.waitFrame((f) => f.type === FrameType.RST_STREAM, 'RST');
    expect([rst.streamId, rst.payload.readUInt32BE(0)]).toEqual([5, ErrorCode.REFUSED_STREAM]);
    expect(held.map((s) => s.id)).toEqual([1, 3]);
    // once one finishes, a new stream is accepted again
    (held[0] as H2Stream).respond({ ':status': 200 }, true);
    peer.write(rawFrame(FrameType.DATA, Flags.END_STREAM, 1));
    await waitFor(() => (held[0] as H2Stream).closed, 'stream 1 closed');
    peer.write(peer.headers(7, requestList(), true));
    await waitFor(() => held.length === 3, 'stream 7 accepted');
    expect((held[2] as H2Stream).id).toBe(7);
  });

  it('carries 1000 concurrent streams on one connection (node client -> engine server)', async () => {
    const srv = await startEngineServer(t, echo);
    const session = await connectNode(t, srv.port);
    const calls = Array.from({ length: 1000 }, (_, i) => {
      const req = session.request(GRPC_REQUEST);
      req.end(`m${i}`);
      return readAll(req);
    });
    const bodies = await Promise.all(calls);
    expect(bodies.map((b) => b.toString())).toEqual(Array.from({ length: 1000 }, (_, i) => `m${i}`));
    expect((srv.conns[0] as H2Connection).activeStreams).toBe(0);
  });

  it('carries 1000 concurrent streams on one connection (engine client -> node server)', async () => {
    const srv = await startNodeServer(t, (stream) => {
      stream.respond({ ':status': 200 });
      stream.pipe(stream);
    });
    const conn = await connectEngine(t, srv.port);
    const calls = Array.from({ length: 1000 }, (_, i) => {
      const s = conn.request(GRPC_REQUEST);
      s.end(Buffer.from(`m${i}`));
      return readAll(s);
    });
    const bodies = await Promise.all(calls);
    expect(bodies.map((b) => b.toString())).toEqual(Array.from({ length: 1000 }, (_, i) => `m${i}`));
    await waitFor(() => conn.activeStreams === 0, 'all streams closed');
  });
});

describe('connection loss', () => {
  it('server: a destroyed client socket closes every stream once and the connection once', async () => {
    const held: H2Stream[] = [];
    const srv = await startEngineServer(t, (stream) => {
      held.push(stream);
      stream.respond({ ':status': 200 });
      stream.on('data', () => {});
    });
    let socket: net.Socket | undefined;
    const session = await connectNode(t, srv.port, {
      createConnection: () => (socket = net.connect({ host: '127.0.0.1', port: srv.port })),
    });
    for (let i = 0; i < 5; i++) session.request(GRPC_REQUEST).on('error', () => {}).write('x');
    await waitFor(() => held.length === 5, 'five streams');
    const conn = srv.conns[0] as H2Connection;
    let connCloses = 0;
    conn.on('close', () => connCloses++);
    const closes = held.map(() => 0);
    held.forEach((s, i) => s.on('close', () => (closes[i] = (closes[i] ?? 0) + 1)));
    socket?.destroy();
    await waitFor(() => connCloses > 0, 'connection close');
    await new Promise((resolve) => setImmediate(resolve));
    expect(closes).toEqual([1, 1, 1, 1, 1]);
    expect(connCloses).toBe(1);
    expect(held.every((s) => s.rstCode !== 0)).toBe(true);
    expect(conn.closeError).toBeInstanceOf(Error);
  });

  it('client: a node server that destroys its session closes every stream once and the connection once', async () => {
    const srv = await startNodeServer(t, (stream) => {
      stream.on('error', () => {});
      stream.respond({ ':status': 200 });
      stream.write('partial');
    });
    const sockets: net.Socket[] = [];
    srv.server.on('connection', (s: net.Socket) => sockets.push(s));
    const conn = await connectEngine(t, srv.port);
    const streams = Array.from({ length: 3 }, () => conn.request(GRPC_REQUEST));
    const closes = streams.map(() => 0);
    streams.forEach((s, i) => s.on('close', () => (closes[i] = (closes[i] ?? 0) + 1)));
    await Promise.all(streams.map((s) => once(s, 'data')));
    let connCloses = 0;
    conn.on('close', () => connCloses++);
    sockets[0]?.destroy();
    await waitFor(() => connCloses > 0, 'connection close');
    await new Promise((resolve) => setImmediate(resolve));
    expect(closes).toEqual([1, 1, 1]);
    expect(connCloses).toBe(1);
    expect(streams.every((s) => s.rstCode !== 0)).toBe(true);
  });
});

describe('protocol errors from a raw peer end the connection with GOAWAY', () => {
  async function expectGoaway(peer: RawPeer, code: number): Promise<void> {
    const goaway = await peer.waitFrame((f) => f.type === FrameType.GOAWAY, 'GOAWAY');
    expect(goaway.payload.readUInt32BE(4)).toBe(code);
    await peer.waitClosed();
  }

  it('HTTP/1.1 request instead of the preface -> PROTOCOL_ERROR', async () => {
    const srv = await startEngineServer(t, echo);
    const peer = await RawPeer.connect(t, srv.port, [], Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    peer.write(Buffer.alloc(0));
    await expectGoaway(peer, ErrorCode.PROTOCOL_ERROR);
    expect((srv.conns[0] as H2Connection).closeError?.message).toMatch(/HTTP\/1/);
  });

  it('garbage preface -> PROTOCOL_ERROR', async () => {
    const srv = await startEngineServer(t, echo);
    const peer = await RawPeer.connect(t, srv.port, [], Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'));
    await expectGoaway(peer, ErrorCode.PROTOCOL_ERROR);
  });

  const cases: Array<[string, (peer: RawPeer) => Buffer, number]> = [
    ['DATA on an idle stream', () => rawFrame(FrameType.DATA, 0, 5, Buffer.from('x')), ErrorCode.PROTOCOL_ERROR],
    ['DATA on an even (server-initiated, never opened) stream', () => rawFrame(FrameType.DATA, 0, 2, Buffer.from('x')), ErrorCode.PROTOCOL_ERROR],
    ['CONTINUATION without HEADERS', (p) => rawFrame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, p.encoder.encode(requestList())), ErrorCode.PROTOCOL_ERROR],
    [
      'HEADERS without END_HEADERS followed by DATA',
      (p) => Buffer.concat([rawFrame(FrameType.HEADERS, 0, 1, p.encoder.encode(requestList())), rawFrame(FrameType.DATA, 0, 1, Buffer.from('x'))]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'CONTINUATION for another stream',
      (p) => Buffer.concat([rawFrame(FrameType.HEADERS, 0, 1, p.encoder.encode(requestList())), rawFrame(FrameType.CONTINUATION, Flags.END_HEADERS, 3)]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    ['WINDOW_UPDATE 0 on the connection', () => encodeWindowUpdateRaw(0, 0), ErrorCode.PROTOCOL_ERROR],
    ['connection window overflow', () => encodeWindowUpdate(0, 0x7fffffff), ErrorCode.FLOW_CONTROL_ERROR],
    ['PUSH_PROMISE from a client', () => rawFrame(FrameType.PUSH_PROMISE, Flags.END_HEADERS, 1, Buffer.from([0, 0, 0, 2, 0x82])), ErrorCode.PROTOCOL_ERROR],
    ['HPACK garbage', () => rawFrame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])), ErrorCode.COMPRESSION_ERROR],
    ['a frame larger than our SETTINGS_MAX_FRAME_SIZE', () => rawFrame(FrameType.DATA, 0, 1, Buffer.alloc(16385)), ErrorCode.FRAME_SIZE_ERROR],
  ];

  it.each(cases)('%s', async (name, build, code) => {
    const srv = await startEngineServer(t, (stream) => stream.pause(), { connectionWindowBytes: 65535, streamWindowBytes: 65535 });
    const peer = await RawPeer.connect(t, srv.port);
    peer.write(build(peer));
    await expectGoaway(peer, code);
    expect(name).toBeTruthy();
  });

  it('DATA beyond the window of a paused stream resets only that stream with FLOW_CONTROL_ERROR', async () => {
    const srv = await startEngineServer(t, (stream) => stream.pause(), { streamWindowBytes: 65535 });
    const peer = await RawPeer.connect(t, srv.port);
    peer.write(peer.headers(1, requestList(), false));
    for (let i = 0; i < 4; i++) peer.write(rawFrame(FrameType.DATA, 0, 1, Buffer.alloc(16384)));
    const rst = await peer.waitFrame((f) => f.type === FrameType.RST_STREAM, 'RST');
    expect([rst.streamId, rst.payload.readUInt32BE(0)]).toEqual([1, ErrorCode.FLOW_CONTROL_ERROR]);
    await pingBarrier(peer, 7);
    expect(peer.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
  });

  it('WINDOW_UPDATE 0 on a stream resets only that stream', async () => {
    const srv = await startEngineServer(t, (stream) => stream.on('data', () => {}));
    const peer = await RawPeer.connect(t, srv.port);
    peer.write(peer.headers(1, requestList(), false), encodeWindowUpdateRaw(1, 0));
    const rst = await peer.waitFrame((f) => f.type === FrameType.RST_STREAM, 'RST');
    expect([rst.streamId, rst.payload.readUInt32BE(0)]).toEqual([1, ErrorCode.PROTOCOL_ERROR]);
    await pingBarrier(peer, 9);
    expect(peer.closed).toBe(false);
  });
});

describe('malformed requests reset the stream and keep the connection', () => {
  const malformed: Array<[string, string[]]> = [
    ['upper-case header name', requestList('/x', ['X-Upper', 'v'])],
    ['missing :path', requestList().filter((_, i, a) => a[i] !== ':path' && a[i - 1] !== ':path')],
    ['connection: keep-alive', requestList('/x', ['connection', 'keep-alive'])],
    ['te other than trailers', requestList('/x', ['te', 'gzip'])],
    ['pseudo-header after a regular header', [...requestList('/x'), ':foo', 'bar']],
  ];

  it.each(malformed)('%s -> RST_STREAM PROTOCOL_ERROR, next request served', async (_name, list) => {
    const seen: string[] = [];
    const srv = await startEngineServer(t, (stream, headers) => {
      seen.push(headers[':path'] as string);
      stream.respond({ ':status': 200, 'grpc-status': '0' }, true);
    });
    const peer = await RawPeer.connect(t, srv.port);
    peer.write(peer.headers(1, list, false), rawFrame(FrameType.DATA, Flags.END_STREAM, 1, Buffer.from('ignored')));
    const rst = await peer.waitFrame((f) => f.type === FrameType.RST_STREAM && f.streamId === 1, 'RST 1');
    expect(rst.payload.readUInt32BE(0)).toBe(ErrorCode.PROTOCOL_ERROR);
    peer.write(peer.headers(3, requestList('/ok'), true));
    const response = await peer.waitFrame((f) => f.type === FrameType.HEADERS && f.streamId === 3, 'response 3');
    expect(response.headers?.slice(0, 2)).toEqual([':status', '200']);
    expect(seen).toEqual(['/ok']);
    expect(peer.closed).toBe(false);
  });
});

function encodeWindowUpdateRaw(streamId: number, increment: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment, 0);
  return rawFrame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}
