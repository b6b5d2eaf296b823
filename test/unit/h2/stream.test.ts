// SPDX-License-Identifier: Apache-2.0
// H2Stream against real node:http2 peers (both roles): call shapes, bodies, back-pressure, pause/resume, trailers,
// metadata, large headers, padding and resets.

import { once } from 'node:events';
import http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import type { H2Connection } from '../../../src/h2/connection.js';
import type { H2Stream } from '../../../src/h2/stream.js';
import {
  connectEngine,
  connectNode,
  patternBytes,
  readAll,
  startEngineServer,
  startNodeServer,
  Tracker,
  writeWithBackpressure,
} from '../../helpers/h2-peers.js';

const t = new Tracker();
afterEach(() => t.closeAll());

const GRPC_REQUEST = { ':method': 'POST', ':path': '/echo.Echo/Call', ':scheme': 'http', ':authority': 'localhost', 'content-type': 'application/grpc', te: 'trailers' };

/** Our server: echoes the request body back in `chunks`-shaped writes, then trailers grpc-status 0. */
function echo(stream: H2Stream): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
  stream.on('data', (c: Buffer) => {
    if (!stream.write(c)) {
      stream.pause();
      stream.once('drain', () => stream.resume());
    }
  });
  stream.on('end', () => stream.sendTrailers({ 'grpc-status': '0' }));
}

/** A node client call: resolves with response headers, body and trailers. */
function nodeCall(session: http2.ClientHttp2Session, body: Buffer[] | Buffer, headers: http2.OutgoingHttpHeaders = {}) {
  const req = session.request({ ...GRPC_REQUEST, ...headers }, { waitForTrailers: false });
  const response = once(req, 'response').then(([h]) => h as http2.IncomingHttpHeaders);
  const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => req.once('trailers', (h) => resolve(h)));
  const data = readAll(req);
  const closed = once(req, 'close');
  if (Buffer.isBuffer(body)) {
    void writeWithBackpressure(req, body);
  } else {
    for (const b of body) req.write(b);
    req.end();
  }
  return { req, response, trailers, data, closed };
}

describe('node:http2 client -> H2Connection server', () => {
  it('echoes a unary call with response headers, body and trailers', async () => {
    const srv = await startEngineServer(t, echo);
    const session = await connectNode(t, srv.port);
    const call = nodeCall(session, [Buffer.from('hello')]);
    expect((await call.response)[':status']).toBe(200);
    expect((await call.data).toString()).toBe('hello');
    expect((await call.trailers)['grpc-status']).toBe('0');
    await call.closed;
    expect(call.req.rstCode).toBe(0);
  });

  it('streams client-streaming, server-streaming and bidi shapes in order', async () => {
    let seen: string[] = [];
    const srv = await startEngineServer(t, (stream, headers) => {
      const shape = headers[':path'];
      stream.respond({ ':status': 200 });
      if (shape === '/client') {
        const parts: string[] = [];
        stream.on('data', (c: Buffer) => parts.push(c.toString()));
        stream.on('end', () => {
          seen = parts;
          stream.write(Buffer.from(parts.join('')));
          stream.sendTrailers({ 'grpc-status': '0' });
        });
      } else if (shape === '/server') {
        stream.on('data', () => {});
        stream.on('end', () => {
          for (let i = 0; i < 100; i++) stream.write(Buffer.from(`${i},`));
          stream.sendTrailers({ 'grpc-status': '0' });
        });
      } else {
        // bidi ping-pong: one reply per message, as it arrives
        stream.on('data', (c: Buffer) => stream.write(Buffer.from(`re:${c.toString()}`)));
        stream.on('end', () => stream.sendTrailers({ 'grpc-status': '0' }));
      }
    });
    const session = await connectNode(t, srv.port);

    const client = nodeCall(session, ['a', 'b', 'c'].map((s) => Buffer.from(s)), { ':path': '/client' });
    expect((await client.data).toString()).toBe('abc');
    expect((await client.trailers)['grpc-status']).toBe('0');

    const server = nodeCall(session, [], { ':path': '/server' });
    expect((await server.data).toString()).toBe(Array.from({ length: 100 }, (_, i) => `${i},`).join(''));

    const bidi = session.request({ ...GRPC_REQUEST, ':path': '/bidi' });
    const replies: string[] = [];
    bidi.on('data', (c: Buffer) => replies.push(c.toString()));
    for (const m of ['x', 'y', 'z']) {
      bidi.write(Buffer.from(m));
      await once(bidi, 'data'); // the reply arrives before the next message is sent
    }
    bidi.end();
    await once(bidi, 'end');
    expect(replies.join('')).toBe('re:xre:yre:z');
    expect(seen.join('')).toBe('abc');
  });

  it('echoes 16 MiB each way with back-pressure and nothing queued beyond the high-water mark', async () => {
    let maxPending = 0;
    const srv = await startEngineServer(t, (stream) => {
      stream.respond({ ':status': 200 });
      stream.on('data', (c: Buffer) => {
        if (!stream.write(c)) {
          stream.pause();
          stream.once('drain', () => stream.resume());
        }
        maxPending = Math.max(maxPending, stream.pendingBytes);
      });
      stream.on('end', () => stream.sendTrailers({ 'grpc-status': '0' }));
    });
    const session = await connectNode(t, srv.port);
    const body = patternBytes(16 << 20, 7);
    const call = nodeCall(session, body);
    const got = await call.data;
    expect(got.length).toBe(body.length);
    expect(got.equals(body)).toBe(true);
    expect((await call.trailers)['grpc-status']).toBe('0');
    // write() returns false at 64 KiB; one chunk of at most a frame (16 KiB from node) may land on top
    expect(maxPending).toBeLessThanOrEqual(64 * 1024 + 16384);
  });

  it('holds data of a stream paused before any data listener until resume, then emits end after the data', async () => {
    const streamWindow = 256 * 1024;
    let server: H2Stream | undefined;
    const gotStream = new Promise<void>((resolve) => {
      void startEngineServer(
        t,
        (stream) => {
          server = stream;
          stream.pause();
          resolve();
        },
        { streamWindowBytes: streamWindow },
      ).then(async (srv) => {
        const session = await connectNode(t, srv.port);
        const req = session.request(GRPC_REQUEST);
        req.on('error', () => {});
        void writeWithBackpressure(req, patternBytes(1 << 20, 3));
        reqHolder.req = req;
      });
    });
    const reqHolder: { req?: http2.ClientHttp2Stream } = {};
    await gotStream;
    const s = server as H2Stream;
    // The peer fills the stream window and stops: no WINDOW_UPDATE while nobody reads.
    await waitFor(() => s.recvWindow === 0, 'stream window exhausted');
    const ping = (s.session as H2Connection);
    await new Promise<void>((resolve, reject) => ping.ping((err) => (err ? reject(err) : resolve())));
    expect(s.recvWindow).toBe(0); // no WINDOW_UPDATE was sent, so nothing more arrived before the PING ACK
    const events: string[] = [];
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (events.at(-1) !== 'data') events.push('data');
    });
    s.on('end', () => events.push('end'));
    await Promise.resolve();
    expect(chunks.length).toBe(0); // a 'data' listener does not resume an explicitly paused stream
    s.resume();
    await once(s, 'end');
    expect(events).toEqual(['data', 'end']);
    expect(Buffer.concat(chunks).equals(patternBytes(1 << 20, 3))).toBe(true);
    s.respond({ ':status': 200 }, true);
    await once(reqHolder.req as http2.ClientHttp2Stream, 'close');
  });

  it('sends Trailers-Only (respond with endStream) as one HEADERS frame ending the stream', async () => {
    const srv = await startEngineServer(t, (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'not found' }, true);
    });
    const session = await connectNode(t, srv.port);
    const req = session.request(GRPC_REQUEST);
    req.end();
    const [headers, flags] = (await once(req, 'response')) as [http2.IncomingHttpHeaders, number];
    expect(headers['grpc-status']).toBe('5');
    expect(headers['grpc-message']).toBe('not found');
    expect(flags & http2.constants.NGHTTP2_FLAG_END_STREAM).toBe(http2.constants.NGHTTP2_FLAG_END_STREAM);
    await once(req, 'close');
    expect(req.rstCode).toBe(0);
  });

  it('closes a server stream whose body nobody read once it replied (no reader leaks the close)', async () => {
    let server: H2Stream | undefined;
    let closes = 0;
    const srv = await startEngineServer(t, (stream) => {
      server = stream;
      stream.on('close', () => closes++);
      // reply only after the whole request arrived (a PING round trip later), without ever reading it
      stream.session.ping(() => stream.respond({ ':status': 200, 'grpc-status': '7' }, true));
    });
    const session = await connectNode(t, srv.port);
    const call = nodeCall(session, [Buffer.alloc(1000, 1)]);
    expect((await call.response)['grpc-status']).toBe('7');
    await waitFor(() => closes === 1, 'server stream close');
    expect(server?.rstCode).toBe(0);
  });

  it('passes repeated metadata keys and -bin values with arbitrary bytes both ways', async () => {
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('base64');
    let seen: http2.IncomingHttpHeaders | undefined;
    const srv = await startEngineServer(t, (stream, headers) => {
      seen = headers;
      stream.respond({ ':status': 200, 'x-rep': ['1', '2', '3'], 'x-raw-bin': binary, 'x-latin': 'caf\u00e9' });
      stream.on('data', () => {});
      stream.on('end', () => stream.sendTrailers({ 'grpc-status': '0', 'x-trailer': ['a', 'b'], 'x-t-bin': binary }));
    });
    const session = await connectNode(t, srv.port);
    const call = nodeCall(session, [], { 'x-multi': ['one', 'two'], 'x-id-bin': binary, 'x-empty': '' });
    const headers = await call.response;
    expect(headers['x-rep']).toBe('1, 2, 3'); // node joins repeated response headers
    expect(headers['x-raw-bin']).toBe(binary);
    const trailers = await call.trailers;
    expect(trailers['x-t-bin']).toBe(binary);
    expect(seen?.['x-multi']).toEqual(['one', 'two']);
    expect(seen?.['x-id-bin']).toBe(binary);
    expect(seen?.['x-empty']).toBe('');
    expect(seen?.[':path']).toBe('/echo.Echo/Call');
    await call.closed;
  });

  it('receives and sends header blocks larger than 16 KiB (CONTINUATION)', async () => {
    const big = 'v'.repeat(20000);
    let seen: string | undefined;
    const srv = await startEngineServer(t, (stream, headers) => {
      seen = headers['x-big'] as string;
      stream.respond({ ':status': 200, 'x-big-response': big.replace(/v/g, 'w') });
      stream.on('data', () => {});
      stream.on('end', () => stream.sendTrailers({ 'grpc-status': '0', 'x-big-trailer': big.replace(/v/g, 't') }));
    });
    const session = await connectNode(t, srv.port);
    const call = nodeCall(session, [], { 'x-big': big });
    expect((await call.response)['x-big-response']).toBe('w'.repeat(20000));
    expect((await call.trailers)['x-big-trailer']).toBe('t'.repeat(20000));
    expect(seen).toBe(big);
  });

  it('accepts padded DATA and HEADERS (node PADDING_STRATEGY_MAX) and counts padding in flow control', async () => {
    const srv = await startEngineServer(t, echo, { streamWindowBytes: 65535, connectionWindowBytes: 65535 });
    const session = await connectNode(t, srv.port, { paddingStrategy: http2.constants.PADDING_STRATEGY_MAX });
    const body = patternBytes(2 << 20, 11);
    const call = nodeCall(session, body);
    const got = await call.data;
    expect(got.equals(body)).toBe(true);
    expect((await call.trailers)['grpc-status']).toBe('0');
  });

  it('reports RST_STREAM codes on both sides: client cancel and server reset', async () => {
    const serverStreams: H2Stream[] = [];
    const srv = await startEngineServer(t, (stream) => {
      serverStreams.push(stream);
      stream.respond({ ':status': 200 });
      stream.on('data', () => {});
    });
    const session = await connectNode(t, srv.port);
    // client -> server: node cancels with CANCEL (8)
    const a = session.request(GRPC_REQUEST);
    a.write(Buffer.from('x'));
    await once(a, 'response');
    const aServer = serverStreams[0] as H2Stream;
    const aClosed = once(aServer, 'close');
    a.close(http2.constants.NGHTTP2_CANCEL);
    await aClosed;
    expect(aServer.rstCode).toBe(8);
    expect(aServer.closed).toBe(true);
    // server -> client: we reset with INTERNAL_ERROR (2)
    const b = session.request(GRPC_REQUEST);
    b.on('error', () => {});
    const bClosed = new Promise((resolve) => b.once('close', resolve)); // events.once would reject on 'error'
    await once(b, 'response');
    (serverStreams[1] as H2Stream).close(2);
    await bClosed;
    expect(b.rstCode).toBe(2);
    expect((serverStreams[1] as H2Stream).rstCode).toBe(2);
  });
});

describe('H2Connection client -> node:http2 server', () => {
  /** node echo server; trailers grpc-status 0 */
  function nodeEcho(stream: http2.ServerHttp2Stream): void {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.pipe(stream);
  }

  function engineCall(conn: H2Connection, headers: http2.OutgoingHttpHeaders = {}) {
    const stream = conn.request({ ...GRPC_REQUEST, ...headers });
    const response = once(stream, 'response').then(([h, f]) => ({ headers: h as http2.IncomingHttpHeaders, flags: f as number }));
    const trailers = once(stream, 'trailers').then(([h]) => h as http2.IncomingHttpHeaders);
    const data = readAll(stream);
    const closed = once(stream, 'close');
    return { stream, response, trailers, data, closed };
  }

  it('makes a unary call and sees headers, body, trailers and a clean close', async () => {
    const srv = await startNodeServer(t, nodeEcho);
    const conn = await connectEngine(t, srv.port);
    const call = engineCall(conn);
    call.stream.end(Buffer.from('ping'));
    const { headers } = await call.response;
    expect(headers[':status']).toBe(200);
    expect((await call.data).toString()).toBe('ping');
    expect((await call.trailers)['grpc-status']).toBe('0');
    await call.closed;
    expect(call.stream.rstCode).toBe(0);
  });

  it('echoes 16 MiB each way with back-pressure', async () => {
    const srv = await startNodeServer(t, nodeEcho);
    const conn = await connectEngine(t, srv.port);
    const call = engineCall(conn);
    const body = patternBytes(16 << 20, 5);
    const maxPending = await writeWithBackpressure(call.stream, body);
    const got = await call.data;
    expect(got.length).toBe(body.length);
    expect(got.equals(body)).toBe(true);
    // write() says false at 64 KiB queued; the write that crossed it adds at most one 64 KiB chunk
    expect(maxPending).toBeLessThan(2 * 64 * 1024);
    await call.closed;
  });

  it('stops sending when the node reader pauses and continues on resume', async () => {
    let serverStream: http2.ServerHttp2Stream | undefined;
    const arrived = new Promise<void>((resolve) => {
      void startNodeServer(t, (stream) => {
        serverStream = stream;
        stream.pause();
        stream.respond({ ':status': 200 });
        resolve();
      }).then(async (srv) => {
        holder.conn = await connectEngine(t, srv.port);
        holder.call = engineCall(holder.conn);
        holder.write = writeWithBackpressure(holder.call.stream, patternBytes(8 << 20, 9));
      });
    });
    const holder: { conn?: H2Connection; call?: ReturnType<typeof engineCall>; write?: Promise<number> } = {};
    await arrived;
    const call = holder.call as ReturnType<typeof engineCall>;
    // node's default stream window is 65535: we stop at it and keep the rest queued under our high-water mark.
    await waitFor(() => call.stream.sendWindow === 0, 'send window exhausted');
    await new Promise<void>((resolve, reject) => (holder.conn as H2Connection).ping((e) => (e ? reject(e) : resolve())));
    expect(call.stream.sendWindow).toBe(0);
    expect(call.stream.pendingBytes).toBeLessThan(2 * 64 * 1024); // the writer waits for 'drain'
    const s = serverStream as http2.ServerHttp2Stream;
    const got = readAll(s);
    s.resume();
    await holder.write;
    expect((await got).equals(patternBytes(8 << 20, 9))).toBe(true);
    s.end();
    await call.closed;
  });

  it('delivers a response held by a paused reader after the stream ended: data, then end, then close', async () => {
    const body = patternBytes(200 * 1024, 21);
    const srv = await startNodeServer(t, (stream) => {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.resume();
      stream.end(body);
    });
    const conn = await connectEngine(t, srv.port);
    const stream = conn.request(GRPC_REQUEST);
    stream.pause();
    stream.end();
    const events: string[] = [];
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => {
      chunks.push(c);
      if (events.at(-1) !== 'data') events.push('data');
    });
    stream.on('end', () => events.push('end'));
    stream.on('close', () => events.push('close'));
    await once(stream, 'trailers');
    await new Promise<void>((resolve, reject) => conn.ping((e) => (e ? reject(e) : resolve())));
    expect(events).toEqual([]); // nothing is delivered, and the stream does not report 'close' before its data
    stream.resume();
    await once(stream, 'close');
    expect(events).toEqual(['data', 'end', 'close']);
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
    expect(stream.rstCode).toBe(0);
  });

  it('receives Trailers-Only as a response with END_STREAM and closes cleanly', async () => {
    const srv = await startNodeServer(t, (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14' }, { endStream: true });
    });
    const conn = await connectEngine(t, srv.port);
    const call = engineCall(conn);
    call.stream.end();
    const { headers, flags } = await call.response;
    expect(headers['grpc-status']).toBe('14');
    expect(flags & 1).toBe(1);
    await call.closed;
    expect(call.stream.rstCode).toBe(0);
  });

  it('sends and receives repeated keys, -bin values and >16 KiB headers (CONTINUATION both ways)', async () => {
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i)).toString('base64');
    const big = 'q'.repeat(20000);
    let seen: http2.IncomingHttpHeaders | undefined;
    const srv = await startNodeServer(t, (stream, headers) => {
      seen = headers;
      stream.respond({ ':status': 200, 'x-big': big, 'x-bin': binary, 'set-cookie': ['a=1', 'b=2'] }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-tr-bin': binary }));
      stream.resume();
      stream.on('end', () => stream.end());
    });
    const conn = await connectEngine(t, srv.port);
    const call = engineCall(conn, { 'x-big': big, 'x-rep': ['1', '2'], 'x-bin': binary });
    call.stream.end();
    const { headers } = await call.response;
    expect(headers['x-big']).toBe(big);
    expect(headers['x-bin']).toBe(binary);
    expect(headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect((await call.trailers)['x-tr-bin']).toBe(binary);
    expect(seen?.['x-big']).toBe(big);
    expect(seen?.['x-rep']).toBe('1, 2'); // node joins repeated request headers
    expect(seen?.['x-bin']).toBe(binary);
  });

  it('accepts padded frames from a node server (PADDING_STRATEGY_MAX)', async () => {
    const srv = await startNodeServer(t, nodeEcho, { paddingStrategy: http2.constants.PADDING_STRATEGY_MAX });
    const conn = await connectEngine(t, srv.port, { streamWindowBytes: 65535, connectionWindowBytes: 65535 });
    const call = engineCall(conn);
    const body = patternBytes(1 << 20, 13);
    void writeWithBackpressure(call.stream, body);
    expect((await call.data).equals(body)).toBe(true);
    expect((await call.trailers)['grpc-status']).toBe('0');
  });

  it('reports RST_STREAM codes on both sides', async () => {
    const serverStreams: http2.ServerHttp2Stream[] = [];
    const srv = await startNodeServer(t, (stream) => {
      serverStreams.push(stream);
      stream.on('error', () => {});
      // no response headers: node's close(code) after respond() ends the stream first and only then resets it
      stream.resume();
    });
    const conn = await connectEngine(t, srv.port);
    const a = engineCall(conn);
    a.stream.write(Buffer.from('x'));
    await waitFor(() => serverStreams.length === 1, 'first stream at the server');
    const aServerClosed = once(serverStreams[0] as http2.ServerHttp2Stream, 'close');
    a.stream.close(8);
    await aServerClosed;
    expect((serverStreams[0] as http2.ServerHttp2Stream).rstCode).toBe(8);
    expect(a.stream.rstCode).toBe(8);

    const b = engineCall(conn);
    b.stream.write(Buffer.from('y'));
    await waitFor(() => serverStreams.length === 2, 'second stream at the server');
    (serverStreams[1] as http2.ServerHttp2Stream).close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    await b.closed;
    expect(b.stream.rstCode).toBe(11);
  });
});

/** Polls a condition that socket events will make true (no fixed sleeps: re-checks each I/O turn). */
async function waitFor(pred: () => boolean, label: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for: ${label}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
