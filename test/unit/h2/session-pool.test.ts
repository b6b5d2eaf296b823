// SPDX-License-Identifier: Apache-2.0
// Session pool lifecycle against real sockets: idle close, keepalive PING timeout, connect errors.

import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionPool, type SessionPoolOptions } from '../../../src/h2/session-pool.js';

const opts: SessionPoolOptions = {
  connectTimeoutMs: 1000,
  keepaliveIntervalMs: 100,
  keepaliveTimeoutMs: 100,
  idleTimeoutMs: 200,
  maxSessionsPerEndpoint: 4,
};

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** Pool events that resolve a promise with the first session close. */
function onFirstClose(): { events: { onClose: (a: string, reason: string) => void }; closed: Promise<[string, string]> } {
  let resolve!: (v: [string, string]) => void;
  const closed = new Promise<[string, string]>((r) => (resolve = r));
  return { events: { onClose: (a, reason) => resolve([a, reason]) }, closed };
}

/** An h2c server that holds every stream open (never responds) until the test ends. */
async function holdingServer(settings: http2.Settings = {}): Promise<{ address: string; streams: () => number }> {
  const server = http2.createServer({ settings });
  let streams = 0;
  server.on('stream', () => streams++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => sessions.add(s));
  cleanups.push(() => {
    for (const s of sessions) s.destroy();
    return new Promise((r) => server.close(r));
  });
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, streams: () => streams };
}

const CALL = { ':method': 'POST', ':scheme': 'http', ':authority': 'app', ':path': '/x.Y/Z', 'content-type': 'application/grpc' } as const;

describe('SessionPool', () => {
  it('keeps every call on one session while the peer\'s connection window keeps up, whatever maxStreamsPerSession says', async () => {
    const { address, streams } = await holdingServer();
    const pool = new SessionPool({ ...opts, maxSessionsPerEndpoint: 3, maxStreamsPerSession: 2 });
    cleanups.push(() => pool.destroy());
    const placed = new Set<unknown>();
    for (let i = 0; i < 8; i++) {
      const s = await pool.acquire(address);
      s.request(CALL).on('error', () => {});
      placed.add(s);
    }
    expect(placed.size).toBe(1);
    expect(pool.stats()[address]).toEqual({ sessions: 1, active: 8 });
    await expect.poll(streams).toBe(8);
  });

  it('once the peer\'s connection window held back DATA, opens another session at maxStreamsPerSession calls and shares the least loaded past maxSessionsPerEndpoint', async () => {
    // The app reads nothing, so its 65,535-byte connection window is spent by two 40 KiB bodies, each within its
    // own 65,535-byte stream window: the second one is held back by the connection's window.
    const { address, streams } = await holdingServer();
    const pool = new SessionPool({ ...opts, maxSessionsPerEndpoint: 3, maxStreamsPerSession: 2 });
    cleanups.push(() => pool.destroy());
    const first = await pool.acquire(address);
    for (let i = 0; i < 2; i++) {
      const s = await pool.acquire(address);
      expect(s).toBe(first);
      const stream = s.request(CALL);
      stream.on('error', () => {});
      stream.write(Buffer.alloc(40 * 1024));
    }
    first.release(); // the slot reserved by the first acquire
    await expect.poll(() => first.session.sendWindowStalls).toBeGreaterThan(0);

    const placed: unknown[] = [];
    for (let i = 0; i < 6; i++) {
      const s = await pool.acquire(address);
      s.request(CALL).on('error', () => {});
      placed.push(s);
    }
    // The first session is at the cap already (2): two new sessions take two calls each, then the last two calls
    // go to the least loaded sessions, opened at once (the app allows 100 streams per connection).
    expect(placed.slice(0, 4).includes(first)).toBe(false);
    expect(new Set(placed.slice(0, 4)).size).toBe(2);
    expect(pool.stats()[address]).toEqual({ sessions: 3, active: 8, windowBound: true });
    expect(placed[4]).not.toBe(placed[5]);
    await expect.poll(streams).toBe(8);
  });

  it('keeps the peer\'s MAX_CONCURRENT_STREAMS when it is below maxStreamsPerSession', async () => {
    const { address } = await holdingServer({ maxConcurrentStreams: 1 });
    const pool = new SessionPool({ ...opts, maxSessionsPerEndpoint: 2, maxStreamsPerSession: 10 });
    cleanups.push(() => pool.destroy());
    const a = await pool.acquire(address);
    a.request(CALL).on('error', () => {});
    const b = await pool.acquire(address);
    b.request(CALL).on('error', () => {});
    expect(a).not.toBe(b);
    expect(pool.stats()[address]).toEqual({ sessions: 2, active: 2 });
  });


  it('closes a session that carried no call for idleTimeoutMs', async () => {
    const server = http2.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const first = onFirstClose();
    const pool = new SessionPool(opts, first.events);
    cleanups.push(() => pool.destroy());
    const s = await pool.acquire(address);
    s.release();
    expect(pool.stats()[address]).toEqual({ sessions: 1, active: 0 });
    expect(await first.closed).toEqual([address, 'idle']);
  });

  it('destroys a session whose keepalive PING goes unanswered', async () => {
    // A peer that sends its SETTINGS and then never answers anything (a hung process, a black-holed link).
    const sockets: net.Socket[] = [];
    const server = net.createServer((sock) => {
      sockets.push(sock);
      sock.on('error', () => {});
      sock.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    });
    const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const first = onFirstClose();
    const pool = new SessionPool(opts, first.events);
    cleanups.push(() => pool.destroy());
    const s = await pool.acquire(address);
    const stream = s.request({ ':method': 'POST', ':path': '/x.Y/Z', 'content-type': 'application/grpc' });
    stream.on('error', () => {});
    const closed = new Promise((r) => stream.once('close', r));
    expect(await first.closed).toEqual([address, 'keepalive']);
    await closed;
    expect(s.lost).toBe(true);
  });

  it('rejects with ERR_UPSTREAM_CONNECT, marked never-reached-app, when nothing listens', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    const pool = new SessionPool(opts);
    cleanups.push(() => pool.destroy());
    await expect(pool.acquire(`127.0.0.1:${port}`)).rejects.toMatchObject({ code: 'ERR_UPSTREAM_CONNECT', neverReachedApp: true });
  });

  it('rejects with ERR_UPSTREAM_CONNECT naming HTTP/1.x when the endpoint is an HTTP/1.1 server', async () => {
    const srv = http.createServer((_req, res) => res.end('not gRPC'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => srv.close(r)));
    const pool = new SessionPool(opts);
    cleanups.push(() => pool.destroy());
    const address = `127.0.0.1:${(srv.address() as net.AddressInfo).port}`;
    await expect(pool.acquire(address)).rejects.toMatchObject({
      code: 'ERR_UPSTREAM_CONNECT',
      neverReachedApp: true,
      message: expect.stringContaining('answered in HTTP/1.x'),
    });
  });

  it('rejects with ERR_UPSTREAM_CONNECT_TIMEOUT when the peer never sends SETTINGS', async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((sock) => {
      sockets.push(sock);
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    });
    const pool = new SessionPool({ ...opts, connectTimeoutMs: 100 });
    cleanups.push(() => pool.destroy());
    const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    await expect(pool.acquire(address)).rejects.toMatchObject({ code: 'ERR_UPSTREAM_CONNECT_TIMEOUT', neverReachedApp: true });
  });
});
