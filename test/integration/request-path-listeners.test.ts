// SPDX-License-Identifier: Apache-2.0
// Regression guard for issue 14's "no per-call closures": a unary call through one sidecar and through two attaches
// no event listener to any HTTP/2 stream the proxy handles. The proxy's per-call objects are the streams' reader,
// watcher and drain waiter (h2/stream.ts, decisions §21), so no stream ever makes its listener table. A layer that
// goes back to `stream.on(...)` makes a closure and a table per call, and fails this test.
//
// How: real sidecars in this process, a real engine app. A spy on H2Stream#watch collects every stream the proxy
// takes charge of (the listener's downstream streams and forward's upstream streams); once the calls are over, none
// of them may hold a listener table.

import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { H2Stream } from '../../src/h2/stream.js';
import { splitHostPort } from '../../src/net/address.js';
import { connectEngine, startEngineServer, Tracker } from '../helpers/h2-peers.js';
import { startMeshPaths, type MeshPaths, type Sidecar } from '../helpers/sidecar.js';

const t = new Tracker();
let paths: MeshPaths | undefined;
let one: Sidecar;
let caller: Sidecar;

beforeAll(async () => {
  const app = await startEngineServer(t, (stream: H2Stream) => {
    stream.on('data', () => {});
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.write(Buffer.from([0, 0, 0, 0, 2, 8, 1]));
      stream.sendTrailers({ 'grpc-status': '0' });
    });
  });
  const appAddress = `127.0.0.1:${app.port}`;
  paths = await startMeshPaths(appAddress);
  ({ one, caller } = paths);
});

afterAll(async () => {
  await paths?.close();
  await t.closeAll();
});

/** Collects the streams the proxy watches while `run` runs. */
async function watchedDuring(run: () => Promise<void>): Promise<H2Stream[]> {
  const watched = new Set<H2Stream>();
  const watch = H2Stream.prototype.watch;
  H2Stream.prototype.watch = function (this: H2Stream, watcher) {
    if (watcher !== undefined) watched.add(this);
    return watch.call(this, watcher);
  };
  t.add(() => {
    H2Stream.prototype.watch = watch;
  });
  try {
    await run();
  } finally {
    H2Stream.prototype.watch = watch;
  }
  return [...watched];
}

async function unaryCall(address: string): Promise<IncomingHttpHeaders | undefined> {
  const conn = await connectEngine(t, splitHostPort(address).port);
  const stream = conn.request({ ':method': 'POST', ':scheme': 'http', ':path': '/test.Echo/Unary', ':authority': 'echo', 'content-type': 'application/grpc', te: 'trailers' });
  let trailers: IncomingHttpHeaders | undefined;
  stream.on('trailers', (h: IncomingHttpHeaders) => (trailers = h));
  stream.on('data', () => {});
  stream.end(Buffer.from([0, 0, 0, 0, 0]));
  await once(stream, 'close');
  return trailers;
}

describe('the request path attaches no listener to the streams it handles', () => {
  it.each([
    ['one sidecar', () => one.inbound as string, 2],
    ['two sidecars', () => caller.outbound as string, 4],
  ] as const)('%s', async (_name, address, streamsPerCall) => {
    const calls = 3;
    const streams = await watchedDuring(async () => {
      for (let i = 0; i < calls; i++) expect((await unaryCall(address()))?.['grpc-status']).toBe('0');
    });
    // Every leg of every call: the downstream and upstream stream in each sidecar on the way.
    expect(streams.length).toBe(calls * streamsPerCall);
    for (const s of streams) while (!s.closed) await new Promise((r) => setImmediate(r));
    const withListeners = streams.filter((s) => s._events !== undefined).map((s) => `${s.session.role} stream ${s.id}: ${s.eventNames().join(', ')}`);
    expect(withListeners).toEqual([]);
  });
});
