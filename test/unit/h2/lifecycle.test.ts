// SPDX-License-Identifier: Apache-2.0
// Connection and stream lifecycle details: the server's handshake timeout (a socket that never sends the HTTP/2
// preface and SETTINGS is closed), and `addListener('data')` starting the flow like `on('data')`.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { H2Connection } from '../../../src/h2/connection.js';
import { CONNECTION_PREFACE, encodeHeaders, encodePing, encodeSettings, ErrorCode, FrameType } from '../../../src/h2/frame.js';
import { HpackEncoder } from '../../../src/h2/hpack/encoder.js';
import type { H2Stream } from '../../../src/h2/stream.js';
import { FakeSocket } from '../../helpers/fake-socket.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('server handshake timeout', () => {
  it('closes a socket that sent nothing with GOAWAY SETTINGS_TIMEOUT after handshakeTimeoutMs', () => {
    vi.useFakeTimers();
    const socket = new FakeSocket();
    const conn = new H2Connection(socket.asSocket, { role: 'server', handshakeTimeoutMs: 5000 });
    vi.advanceTimersByTime(4999);
    expect(conn.destroyed).toBe(false);
    vi.advanceTimersByTime(1);
    expect(conn.destroyed).toBe(true);
    expect(conn.closeReason).toBe('settings_timeout');
    const goaway = socket.frames().find((f) => f.type === FrameType.GOAWAY);
    expect(goaway?.payload.readUInt32BE(4)).toBe(ErrorCode.SETTINGS_TIMEOUT);
  });

  it('a peer that sent its preface and SETTINGS in time keeps its connection, however long it is idle', () => {
    vi.useFakeTimers();
    const socket = new FakeSocket();
    const conn = new H2Connection(socket.asSocket, { role: 'server', handshakeTimeoutMs: 5000 });
    vi.advanceTimersByTime(4000);
    socket.emit('data', Buffer.concat([CONNECTION_PREFACE, encodeSettings([])]));
    vi.advanceTimersByTime(60_000);
    expect(conn.destroyed).toBe(false);
    conn.destroy();
  });

  it('a preface without SETTINGS is not enough', () => {
    vi.useFakeTimers();
    const socket = new FakeSocket();
    const conn = new H2Connection(socket.asSocket, { role: 'server', handshakeTimeoutMs: 5000 });
    socket.emit('data', CONNECTION_PREFACE);
    vi.advanceTimersByTime(5000);
    expect(conn.destroyed).toBe(true);
  });
});

describe('connection preface', () => {
  it('a peer whose first frame after the preface is not SETTINGS gets GOAWAY PROTOCOL_ERROR (RFC 9113 §3.4)', () => {
    const socket = new FakeSocket();
    const conn = new H2Connection(socket.asSocket, { role: 'server' });
    socket.emit('data', Buffer.concat([CONNECTION_PREFACE, encodePing(Buffer.alloc(8), false)]));
    expect(conn.destroyed).toBe(true);
    expect(conn.closeReason).toBe('protocol_error');
    expect(conn.closeError?.message).toMatch(/first frame must be SETTINGS/);
  });
});

describe('stream flow', () => {
  it("addListener('data') starts the flow like on('data')", async () => {
    const socket = new FakeSocket();
    const conn = new H2Connection(socket.asSocket, { role: 'server' });
    const got: string[] = [];
    conn.on('stream', (s: H2Stream) => {
      s.addListener('data', (c: Buffer) => got.push(c.toString()));
    });
    const enc = new HpackEncoder();
    const headers = encodeHeaders(1, enc.encode([':method', 'POST', ':scheme', 'http', ':authority', 'a', ':path', '/a.B/C']), false, 16384);
    const data = Buffer.alloc(9 + 5);
    data.writeUIntBE(5, 0, 3);
    data[3] = FrameType.DATA;
    data[4] = 1; // END_STREAM
    data.writeUInt32BE(1, 5);
    data.write('hello', 9);
    socket.emit('data', Buffer.concat([CONNECTION_PREFACE, encodeSettings([]), headers, data]));
    await new Promise((r) => process.nextTick(r));
    expect(got).toEqual(['hello']);
    conn.destroy();
  });
});
