// SPDX-License-Identifier: Apache-2.0
// Calls without a deadline and idle calls (issue 14, docs/decisions.md §15), through a real sidecar to a real
// node:http2 upstream, called by a raw-frame client: a call with no grpc-timeout to an upstream that accepts the
// stream and goes silent ends with DEADLINE_EXCEEDED ERR_UNARY_TIMEOUT at unaryTimeoutMs; a server stream that keeps
// sending for longer than that is not cut; one that goes silent ends after idleTimeoutMs with the status in trailers.
// Every ending is a gRPC status, and the upstream stream is reset with CANCEL (nothing left hanging there).

import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { encodeDataHeader, ErrorCode, Flags, FrameType } from '../../src/h2/frame.js';
import { useCleanup } from '../helpers/cleanup.js';
import { RawPeer, Tracker } from '../helpers/h2-peers.js';
import { startSidecar, type Sidecar } from '../helpers/sidecar.js';
import { policy } from '../unit/proxy/layers/resilience-harness.js';

const defer = useCleanup();
const UNARY_MS = 200;
const IDLE_MS = 300;
/** Generous upper slack for a shared 2-core machine: the point is "it ends", the lower bounds are exact. */
const SLACK_MS = 1500;
const MESSAGE = Buffer.from([0, 0, 0, 0, 1, 0x2a]);

interface Upstream {
  readonly address: string;
  /** RST_STREAM codes of the upstream's streams as they closed, by path. */
  readonly closed: Map<string, number>;
  readonly closedOnce: (path: string) => Promise<number>;
}

/** A real gRPC-shaped upstream whose behaviour is chosen by the method name. */
async function startUpstream(): Promise<Upstream> {
  const server = http2.createServer();
  const closed = new Map<string, number>();
  const waiters = new Map<string, (code: number) => void>();
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    stream.on('error', () => {});
    stream.on('close', () => {
      closed.set(path, stream.rstCode);
      waiters.get(path)?.(stream.rstCode);
    });
    stream.resume();
    if (path.endsWith('/Silent')) return; // accepts the stream, never answers
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    if (path.endsWith('/Stall')) {
      stream.write(MESSAGE); // one message, then silence
      return;
    }
    // Ticks: a message every 40 ms for 15 ticks (600 ms: longer than unaryTimeoutMs and idleTimeoutMs), then OK.
    let n = 0;
    const timer = setInterval(() => {
      if (stream.closed) return clearInterval(timer);
      stream.write(MESSAGE);
      if (++n === 15) {
        clearInterval(timer);
        stream.end();
      }
    }, 40);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  defer(() => {
    for (const s of sessions) s.destroy();
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    closed,
    closedOnce: (path) => {
      const code = closed.get(path);
      if (code !== undefined) return Promise.resolve(code);
      return new Promise((resolve) => waiters.set(path, resolve));
    },
  };
}

const POLICY = policy(`defaults: { unaryTimeoutMs: ${UNARY_MS}, idleTimeoutMs: ${IDLE_MS} }\n`);

async function outboundSidecar(up: Upstream): Promise<Sidecar> {
  const s = await startSidecar(
    { service: { name: 'caller' }, outbound: { listen: '127.0.0.1:0' }, upstreams: { up: { endpoints: [up.address] } } },
    { policy: POLICY },
  );
  defer(() => s.close());
  return s;
}

interface Ending {
  /** grpc-status etc. from the Trailers-Only HEADERS or the trailers. */
  readonly status: Record<string, string>;
  readonly trailersOnly: boolean;
  readonly dataFrames: number;
  /** performance.now() of the last DATA frame received, or of the request when none came. */
  readonly lastDataAt: number;
  readonly endedAt: number;
  readonly startedAt: number;
}

/** One unary-shaped call (one message, END_STREAM, no grpc-timeout) from a raw-frame client; waits for its end. */
async function rawCall(t: Tracker, address: string, path: string, authority: string): Promise<Ending> {
  const port = Number(address.split(':')[1]);
  const peer = await RawPeer.connect(t, port);
  const startedAt = performance.now();
  peer.write(
    peer.headers(1, [':method', 'POST', ':scheme', 'http', ':path', path, ':authority', authority, 'content-type', 'application/grpc', 'te', 'trailers'], false),
    encodeDataHeader(1, MESSAGE.length, true),
    MESSAGE,
  );
  let lastDataAt = startedAt;
  let dataFrames = 0;
  const end = await peer.waitFrame((f) => {
    if (f.streamId !== 1) return false;
    if (f.type === FrameType.DATA && f.payload.length > 0 && (f as { seen?: boolean }).seen !== true) {
      (f as { seen?: boolean }).seen = true;
      dataFrames++;
      lastDataAt = performance.now();
    }
    return f.type === FrameType.RST_STREAM || ((f.type === FrameType.HEADERS || f.type === FrameType.DATA) && (f.flags & Flags.END_STREAM) !== 0);
  }, `end of ${path}`);
  const endedAt = performance.now();
  expect(end.type, `${path} must end with a status, not ${peer.describe()}`).toBe(FrameType.HEADERS);
  const list = end.headers ?? [];
  const status: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) status[list[i] as string] = list[i + 1] as string;
  const firstHeaders = peer.frames.find((f) => f.streamId === 1 && f.type === FrameType.HEADERS);
  return { status, trailersOnly: firstHeaders === end, dataFrames, lastDataAt, endedAt, startedAt };
}

describe('calls without a deadline, and idle calls (issue 14)', () => {
  it('outbound: a unary call with no grpc-timeout to an upstream that accepts the stream and goes silent ends with DEADLINE_EXCEEDED at unaryTimeoutMs', async () => {
    const up = await startUpstream();
    const s = await outboundSidecar(up);
    const t = new Tracker();
    defer(() => t.closeAll());
    const got = await rawCall(t, s.outbound as string, '/t.S/Silent', 'up');
    expect(got.trailersOnly).toBe(true);
    expect(got.status).toMatchObject({ ':status': '200', 'content-type': 'application/grpc', 'grpc-status': '4', 'x-meshlet-error': 'ERR_UNARY_TIMEOUT' });
    expect(decodeURIComponent(got.status['grpc-message'] ?? '')).toContain('unaryTimeoutMs');
    const took = got.endedAt - got.startedAt;
    expect(took).toBeGreaterThanOrEqual(UNARY_MS - 5);
    expect(took).toBeLessThan(UNARY_MS + SLACK_MS);
    // The upstream's stream was reset (CANCEL), not left open; and no grpc-timeout was invented for it.
    expect(await up.closedOnce('/t.S/Silent')).toBe(ErrorCode.CANCEL);
    expect(s.logs.find((l) => l['access'] === true)).toMatchObject({ grpc_status: 4, error_code: 'ERR_UNARY_TIMEOUT' });
  });

  it('outbound: a server stream that keeps sending for longer than unaryTimeoutMs and idleTimeoutMs is not cut', async () => {
    const up = await startUpstream();
    const s = await outboundSidecar(up);
    const t = new Tracker();
    defer(() => t.closeAll());
    const got = await rawCall(t, s.outbound as string, '/t.S/Ticks', 'up');
    expect(got.status).toEqual({ 'grpc-status': '0' });
    expect(got.trailersOnly).toBe(false);
    expect(got.dataFrames).toBeGreaterThanOrEqual(1);
    expect(got.endedAt - got.startedAt).toBeGreaterThan(Math.max(UNARY_MS, IDLE_MS));
  });

  it('outbound: a stream that goes silent after its first message ends after idleTimeoutMs with DEADLINE_EXCEEDED in its trailers', async () => {
    const up = await startUpstream();
    const s = await outboundSidecar(up);
    const t = new Tracker();
    defer(() => t.closeAll());
    const got = await rawCall(t, s.outbound as string, '/t.S/Stall', 'up');
    expect(got.trailersOnly).toBe(false);
    expect(got.dataFrames).toBe(1);
    expect(got.status).toMatchObject({ 'grpc-status': '4', 'x-meshlet-error': 'ERR_STREAM_IDLE_TIMEOUT' });
    const silence = got.endedAt - got.lastDataAt;
    expect(silence).toBeGreaterThanOrEqual(IDLE_MS - 5);
    expect(silence).toBeLessThan(IDLE_MS + SLACK_MS);
    expect(await up.closedOnce('/t.S/Stall')).toBe(ErrorCode.CANCEL);
  });

  it('inbound: the app that accepts a call without a deadline and goes silent gets the same guard, with the inbound wire message', async () => {
    const up = await startUpstream();
    const s = await startSidecar({ service: { name: 'app' }, inbound: { listen: '127.0.0.1:0', app: up.address } }, { policy: POLICY });
    defer(() => s.close());
    const t = new Tracker();
    defer(() => t.closeAll());
    const got = await rawCall(t, s.inbound as string, '/t.S/Silent', 'app');
    expect(got.status).toMatchObject({ 'grpc-status': '4', 'x-meshlet-error': 'ERR_UNARY_TIMEOUT' });
    expect(decodeURIComponent(got.status['grpc-message'] ?? '')).toBe('meshlet: deadline exceeded (ERR_UNARY_TIMEOUT)');
    expect(got.endedAt - got.startedAt).toBeGreaterThanOrEqual(UNARY_MS - 5);
    expect(await up.closedOnce('/t.S/Silent')).toBe(ErrorCode.CANCEL);
  });
});
