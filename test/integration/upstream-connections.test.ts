// SPDX-License-Identifier: Apache-2.0
// `connection.maxStreamsPerSession` reaches the pool: a sidecar spreads calls in flight to its app over connections
// of at most that many streams (each with its own flow-control window from the app), and keeps one connection when
// the cap is above the calls in flight.

import { once } from 'node:events';
import http2 from 'node:http2';
import type net from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { startSidecar } from '../helpers/sidecar.js';

const defer = useCleanup();
const CALLS = 60;

/**
 * A gRPC app that holds every call until `CALLS` are in flight, then answers them all (status 0): the calls are
 * concurrent at the sidecar for certain. Counts the connections the sidecar opened.
 */
async function startHoldingApp(): Promise<{ address: string; connections: () => number }> {
  let connections = 0;
  const held: http2.ServerHttp2Stream[] = [];
  const server = http2.createServer();
  server.on('session', () => connections++);
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    // The sidecar's health checks of the app are not calls of the test.
    if (headers[':path'] !== '/test.Echo/Unary') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
      return;
    }
    stream.resume();
    held.push(stream);
    if (held.length < CALLS) return;
    for (const s of held.splice(0)) {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.once('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(Buffer.from([0, 0, 0, 0, 0]));
    }
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

/** `CALLS` concurrent unary calls through the sidecar's inbound listener; resolves with their grpc-status values. */
async function callConcurrently(inbound: string): Promise<string[]> {
  const client = http2.connect(`http://${inbound}`);
  client.on('error', () => {});
  defer(() => client.destroy());
  const statuses = Array.from({ length: CALLS }, () => {
    const req = client.request({ ':method': 'POST', ':path': '/test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers' });
    req.end(Buffer.from([0, 0, 0, 0, 0]));
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
  it('by default, calls in flight are spread over connections of at most 25 streams', async () => {
    const app = await startHoldingApp();
    const s = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: app.address } });
    defer(() => s.close());
    const statuses = await callConcurrently(s.inbound as string);
    expect(statuses).toEqual(Array(CALLS).fill('0'));
    expect(app.connections()).toBe(Math.ceil(CALLS / 25));
  });

  it('keeps one connection when maxStreamsPerSession is above the calls in flight', async () => {
    const app = await startHoldingApp();
    const s = await startSidecar({
      service: { name: 'echo' },
      inbound: { listen: '127.0.0.1:0', app: app.address },
      connection: { maxStreamsPerSession: 1000 },
    });
    defer(() => s.close());
    const statuses = await callConcurrently(s.inbound as string);
    expect(statuses).toEqual(Array(CALLS).fill('0'));
    expect(app.connections()).toBe(1);
  });
});
