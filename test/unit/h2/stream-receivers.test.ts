// SPDX-License-Identifier: Apache-2.0
// H2Stream's receivers (decisions §21): the reader, watcher and drain waiter the engine calls directly, the observer
// that does not start the flow, and the listener table that only exists once someone listens. Real engine peers over
// loopback on both sides.

import http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import type { H2Stream, StreamReader, StreamWatcher } from '../../../src/h2/stream.js';
import { STREAM_HIGH_WATER_BYTES } from '../../../src/h2/stream.js';
import { connectEngine, connectNode, patternBytes, readAll, startEngineServer, startNodeServer, Tracker } from '../../helpers/h2-peers.js';

const t = new Tracker();
afterEach(() => t.closeAll());

const REQUEST = { ':method': 'POST', ':path': '/echo.Echo/Call', ':scheme': 'http', ':authority': 'localhost', 'content-type': 'application/grpc' };

/** A reader that records what it was given, in order, and when. */
function recorder(): StreamReader & { events: string[]; body: () => string; ended: Promise<void> } {
  const chunks: Buffer[] = [];
  const events: string[] = [];
  let endNow: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => (endNow = resolve));
  return {
    events,
    ended,
    body: () => Buffer.concat(chunks).toString(),
    onStreamData(chunk: Buffer) {
      chunks.push(chunk);
      events.push(`data:${chunk.toString()}`);
    },
    onStreamEnd() {
      events.push('end');
      endNow();
    },
  };
}

/**
 * An engine server and a node client with one request open on it: `req` to write the body with, `stream` the server's
 * side of it once it arrived (nothing reads it).
 */
async function openRequest(opts: Parameters<typeof startEngineServer>[2] = {}): Promise<{ req: http2.ClientHttp2Stream; stream: Promise<H2Stream> }> {
  let resolve: (s: H2Stream) => void = () => undefined;
  const stream = new Promise<H2Stream>((r) => (resolve = r));
  const srv = await startEngineServer(t, (s) => resolve(s), opts);
  const client = await connectNode(t, srv.port);
  return { req: client.request(REQUEST), stream };
}

/** Waits until the peer's END_STREAM arrived on `stream` (its body is in, held when nothing reads it). */
async function untilRemoteEnded(stream: H2Stream): Promise<void> {
  while (!stream.remoteEnded) await new Promise((r) => setImmediate(r));
}

describe('H2Stream receivers', () => {
  it('readInto delivers data held before the reader came, and the end, before it returns; no listener table is made', async () => {
    const { req, stream: arrived } = await openRequest();
    req.end(Buffer.from('held'));
    const stream = await arrived;
    // The body and END_STREAM are in; the stream is not flowing: nothing reads it yet.
    await untilRemoteEnded(stream);
    const reader = recorder();
    stream.readInto(reader);
    expect(reader.events).toEqual(['data:held', 'end']);
    stream.respond({ ':status': 200 }, true);
    expect(stream._events).toBeUndefined();
    req.close();
  });

  it('readInto then live data: each chunk as it arrives; a detached reader gets nothing more, and the flow goes on', async () => {
    // A small window: the body below only gets through if what arrives without a reader is credited back.
    const { req, stream: arrived } = await openRequest({ streamWindowBytes: 65_535, connectionWindowBytes: 65_535 });
    req.write(Buffer.from('a'));
    const stream = await arrived;
    const first = recorder();
    stream.readInto(first);
    while (first.events.length === 0) await new Promise((r) => setImmediate(r));
    stream.readInto(undefined);
    req.end(patternBytes(4 * 65_535, 2));
    await untilRemoteEnded(stream);
    expect(first.events).toEqual(['data:a']);
    stream.respond({ ':status': 200 }, true);
  });

  it('a watcher sees the response, the trailers and the close, before the listeners of the same events', async () => {
    const srv = await startNodeServer(t, (s: http2.ServerHttp2Stream) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(Buffer.from('body'));
      s.resume();
    });
    const conn = await connectEngine(t, srv.port);
    const stream = conn.request(REQUEST);
    const order: string[] = [];
    let closed: () => void = () => undefined;
    const done = new Promise<void>((r) => (closed = r));
    const watcher: StreamWatcher = {
      onStreamResponse: (h, flags) => order.push(`watch:response:${h[':status']}:${flags & 1}`),
      onStreamTrailers: (h) => order.push(`watch:trailers:${h['grpc-status']}`),
      onStreamClose: () => order.push('watch:close'),
    };
    stream.watch(watcher);
    stream.on('response', () => order.push('event:response'));
    stream.on('trailers', () => order.push('event:trailers'));
    stream.on('close', () => {
      order.push('event:close');
      closed();
    });
    const body = readAll(stream);
    stream.end();
    await done;
    expect((await body).toString()).toBe('body');
    expect(order).toEqual([
      'watch:response:200:0',
      'event:response',
      'watch:trailers:0',
      'event:trailers',
      'watch:close',
      'event:close',
    ]);
  });

  it('a drain waiter is called once when the queued bytes go out', async () => {
    const srv = await startNodeServer(t, (s: http2.ServerHttp2Stream) => {
      s.respond({ ':status': 200 });
      s.resume();
      s.on('end', () => s.end());
    });
    const conn = await connectEngine(t, srv.port);
    const stream = conn.request(REQUEST);
    let full = 0;
    while (stream.write(Buffer.alloc(16 * 1024))) full++;
    expect(full).toBeLessThan(STREAM_HIGH_WATER_BYTES / (16 * 1024));
    let drains = 0;
    await new Promise<void>((resolve) =>
      stream.waitDrain({
        onStreamDrain() {
          drains++;
          resolve();
        },
      }),
    );
    expect(drains).toBe(1);
    // Once only: a second high-water crossing does not call the old waiter.
    while (stream.write(Buffer.alloc(16 * 1024))) full++;
    await new Promise<void>((resolve) => stream.once('drain', resolve));
    expect(drains).toBe(1);
    stream.end();
  });

  it('observeData sees every chunk without starting the flow; the reader decides when data moves', async () => {
    const { req, stream: arrived } = await openRequest();
    req.end(Buffer.from('observed'));
    const stream = await arrived;
    const seen: string[] = [];
    stream.observeData((c) => seen.push(c.toString()));
    await untilRemoteEnded(stream);
    // An 'on("data")' would have started the flow and delivered by now; the observer did not.
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([]);
    const reader = recorder();
    stream.readInto(reader);
    expect(reader.events).toEqual(['data:observed', 'end']);
    expect(seen).toEqual(['observed']);
    stream.respond({ ':status': 200 }, true);
  });

  it('an observer is not a reader: a server stream that answers without reading its body still closes', async () => {
    const { req, stream: arrived } = await openRequest();
    req.end(Buffer.from('never read'));
    const stream = await arrived;
    stream.observeData(() => undefined);
    let closed = false;
    stream.watch({ onStreamClose: () => (closed = true) });
    await untilRemoteEnded(stream);
    // An early Trailers-Only answer (an authz denial, a rate limit) with the body still held.
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '7' }, true);
    await new Promise((resolve) => req.on('close', resolve));
    expect(closed).toBe(true);
  });

  it('is still a node EventEmitter: on/once/emit/listenerCount work and make the listener table on first use', async () => {
    const { req, stream: arrived } = await openRequest();
    req.end();
    const stream = await arrived;
    expect(stream._events).toBeUndefined();
    expect(stream.listenerCount('close')).toBe(0);
    expect(stream.emit('nothing')).toBe(false);
    const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
    expect(stream._events).toBeDefined();
    expect(stream.listenerCount('close')).toBe(1);
    expect(() => stream.emit('error', new Error('unhandled'))).toThrow('unhandled');
    stream.respond({ ':status': 200 }, true);
    await closed;
    expect(stream.listenerCount('close')).toBe(0);
  });
});
