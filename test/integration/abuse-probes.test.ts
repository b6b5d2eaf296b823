// SPDX-License-Identifier: Apache-2.0
// The abuse probes of issue #14 against a sidecar's listener, with raw sockets: slowloris connections are closed at
// the handshake timeout, and an endless CONTINUATION header block gets GOAWAY ENHANCE_YOUR_CALM; a well-behaved
// client's calls keep succeeding meanwhile. (The stream flood is stream-flood.test.ts; a drain under load
// losing no call is failures.test.ts; unread data bounded by flow control is test/unit/h2/connection-window.test.ts.)

import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { CONNECTION_PREFACE, ErrorCode, Flags, FrameType } from '../../src/h2/frame.js';
import { useCleanup } from '../helpers/cleanup.js';
import { echoClient, startEcho, unary } from '../helpers/echo.js';
import { rawFrame, RawPeer, requestList, Tracker } from '../helpers/h2-peers.js';
import { startSidecar } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';

const defer = useCleanup();

async function sidecar(http2: Record<string, number> = {}) {
  const echo = await startEcho();
  defer(() => echo.close());
  const s = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: echo.address }, http2 }, { level: 'silent' });
  defer(() => s.close());
  const client = echoClient(s.inbound as string);
  defer(() => client.close());
  return { s, client, port: Number((s.inbound as string).split(':')[1]) };
}

describe('abuse probes', () => {
  it('slowloris: 200 connections that never finish the preface are closed at the handshake timeout; calls go on', async () => {
    const { client, port } = await sidecar({ handshakeTimeoutMs: 300 });
    let connected = 0;
    let closed = 0;
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.on('error', () => {});
      // Half send a few bytes of the preface, as a slowloris client would, then nothing more.
      socket.on('connect', () => {
        connected++;
        if (i % 2 === 0) socket.write(CONNECTION_PREFACE.subarray(0, 5));
      });
      socket.on('close', () => closed++);
      socket.resume(); // reads the GOAWAY, so the end of the stream is seen
      defer(() => socket.destroy());
    }
    // While they hang, a well-behaved call is served.
    expect((await unary(client, Buffer.from('still served'))).err).toBeNull();
    await waitUntil(() => closed === 200, 'all 200 slow connections closed', 10_000);
    const elapsed = performance.now() - t0;
    expect(connected).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(250);
  });

  it('header flood: an endless CONTINUATION block gets GOAWAY ENHANCE_YOUR_CALM; calls go on', async () => {
    const { client, port } = await sidecar();
    const t = new Tracker();
    defer(() => t.closeAll());
    const peer = await RawPeer.connect(t, port);
    const block = peer.encoder.encode(requestList('/test.Echo/Unary'));
    peer.write(rawFrame(FrameType.HEADERS, 0, 1, block));
    const chunk = Buffer.alloc(16_384, 0x41);
    for (let i = 0; i < 20 && !peer.closed; i++) {
      peer.write(rawFrame(FrameType.CONTINUATION, 0, 1, chunk));
      await new Promise((r) => setImmediate(r));
    }
    const goaway = await peer.waitFrame((f) => f.type === FrameType.GOAWAY, 'GOAWAY');
    expect(goaway.payload.readUInt32BE(4)).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    await peer.waitClosed();
    expect(peer.frames.some((f) => f.type === FrameType.HEADERS && (f.flags & Flags.END_STREAM) !== 0)).toBe(false);
    expect((await unary(client, Buffer.from('still served'))).err).toBeNull();
  });
});
