// SPDX-License-Identifier: Apache-2.0
// Connections from a sidecar to its app: calls share one connection while the app's connection window keeps up;
// once it held back DATA (large messages to an app with node's 64 KiB window), calls in flight are spread over
// connections of at most `connection.maxStreamsPerSession` (each with its own window from the app).

import { once } from 'node:events';
import http2 from 'node:http2';
import type net from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { startSidecar } from '../helpers/sidecar.js';

const defer = useCleanup();
const CALLS = 60;

/**
 * A gRPC app that answers a call once its request ended (status 0). Calls marked `x-hold` it holds until `CALLS` of
 * them are in flight, then answers them all: those are concurrent at the sidecar for certain. Calls marked
 * `x-batch: N` it reads nothing of until N of them arrived, so their bodies queue at the sidecar against the app's
 * connection window. Counts the connections the sidecar opened.
 */
async function startApp(): Promise<{ address: string; connections: () => number }> {
  let connections = 0;
  const held: http2.ServerHttp2Stream[] = [];
  const batch: http2.ServerHttp2Stream[] = [];
  const answer = (s: http2.ServerHttp2Stream): void => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.once('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(Buffer.from([0, 0, 0, 0, 0]));
  };
  const server = http2.createServer();
  server.on('session', () => connections++);
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    // The sidecar's health checks of the app are not calls of the test.
    if (headers[':path'] !== '/test.Echo/Unary') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
      return;
    }
    const batchSize = Number(headers['x-batch'] ?? 0);
    if (batchSize > 0) {
      stream.on('end', () => answer(stream));
      batch.push(stream);
      if (batch.length === batchSize) for (const s of batch.splice(0)) s.resume();
      return;
    }
    stream.resume();
    if (headers['x-hold'] === undefined) {
      stream.on('end', () => answer(stream));
      return;
    }
    held.push(stream);
    if (held.length < CALLS) return;
    for (const s of held.splice(0)) answer(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  defer(() => new Promise<void>((r) => server.close(() => r())));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => sessions.add(s));
  defer(() => {
    for (const s of sessions) s.destroy();
  });
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, connections: () => connections };
}

/**
 * `count` concurrent unary calls through the sidecar's inbound listener, each with a `bodyBytes` message, marked for
 * the app (`hold`: `x-hold`; `batch`: `x-batch: count`); resolves with their grpc-status values.
 */
async function callConcurrently(inbound: string, count: number, bodyBytes: number, mark: 'hold' | 'batch'): Promise<string[]> {
  const client = http2.connect(`http://${inbound}`);
  client.on('error', () => {});
  defer(() => client.destroy());
  const frame = Buffer.alloc(5 + bodyBytes);
  frame.writeUInt32BE(bodyBytes, 1);
  const statuses = Array.from({ length: count }, () => {
    const req = client.request({
      ':method': 'POST',
      ':path': '/test.Echo/Unary',
      'content-type': 'application/grpc',
      te: 'trailers',
      ...(mark === 'hold' ? { 'x-hold': '1' } : { 'x-batch': String(count) }),
    });
    req.end(frame);
    req.resume();
    return new Promise<string>((resolve, reject) => {
      // A trailers-only answer (an error of the sidecar's) carries its status in the response headers.
      req.on('response', (h) => {
        if (h['grpc-status'] !== undefined) resolve(String(h['grpc-status']));
      });
      req.on('trailers', (t) => resolve(String(t['grpc-status'])));
      req.on('error', reject);
    });
  });
  return Promise.all(statuses);
}

describe('connections to the app', () => {
  it('carry every call in flight on one connection while the app\'s connection window keeps up', async () => {
    const app = await startApp();
    const s = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: app.address } });
    defer(() => s.close());
    expect(await callConcurrently(s.inbound as string, CALLS, 0, 'hold')).toEqual(Array(CALLS).fill('0'));
    expect(app.connections()).toBe(1);
    const clusters = (await (await fetch(`http://${s.admin}/clusters`)).json()) as { inbound: { sessions: Record<string, unknown> } };
    expect(clusters.inbound.sessions[app.address]).toEqual({ sessions: 1, active: 0 });
  });

  it('once the app\'s connection window held back DATA, are opened at 25 calls in flight each (the default)', async () => {
    const app = await startApp();
    const s = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: app.address } });
    defer(() => s.close());
    // Four 64 KiB messages the app starts reading only once all four arrived: the first spends the app's 65,535-byte
    // connection window, and the others wait for it.
    expect(await callConcurrently(s.inbound as string, 4, 64 * 1024, 'batch')).toEqual(Array(4).fill('0'));
    expect(app.connections()).toBe(1);
    expect(await callConcurrently(s.inbound as string, CALLS, 0, 'hold')).toEqual(Array(CALLS).fill('0'));
    expect(app.connections()).toBe(Math.ceil(CALLS / 25));
    // The operator sees when and why: /clusters marks the endpoint, the log says it once.
    const clusters = (await (await fetch(`http://${s.admin}/clusters`)).json()) as { inbound: { sessions: Record<string, unknown> } };
    expect(clusters.inbound.sessions[app.address]).toMatchObject({ sessions: Math.ceil(CALLS / 25), windowBound: true });
    expect(s.logs.filter((l) => typeof l['msg'] === 'string' && l['msg'].includes('connection window held back DATA'))).toEqual([
      expect.objectContaining({ level: 'info', component: 'pool', direction: 'inbound', upstream: app.address, maxStreamsPerSession: 25 }),
    ]);
  });

  it('keep one connection when maxStreamsPerSession is above the calls in flight', async () => {
    const app = await startApp();
    const s = await startSidecar({
      service: { name: 'echo' },
      inbound: { listen: '127.0.0.1:0', app: app.address },
      connection: { maxStreamsPerSession: 1000 },
    });
    defer(() => s.close());
    expect(await callConcurrently(s.inbound as string, 4, 64 * 1024, 'batch')).toEqual(Array(4).fill('0'));
    expect(await callConcurrently(s.inbound as string, CALLS, 0, 'hold')).toEqual(Array(CALLS).fill('0'));
    expect(app.connections()).toBe(1);
  });
});
