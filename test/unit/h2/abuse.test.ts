// SPDX-License-Identifier: Apache-2.0
// Flood guards of the engine: a peer that opens and resets streams as fast as it can (CVE-2023-44487, "rapid
// reset") gets GOAWAY ENHANCE_YOUR_CALM and no new streams, while its other calls finish; one that makes us queue
// replies it never reads (PING floods) is cut off; a peer that merely cancels some calls, or reads slowly, is not.

import { describe, expect, it } from 'vitest';
import { H2Connection } from '../../../src/h2/connection.js';
import { CONNECTION_PREFACE, encodeHeaders, encodePing, encodeRstStream, encodeSettings, ErrorCode, FrameType } from '../../../src/h2/frame.js';
import { HpackEncoder } from '../../../src/h2/hpack/encoder.js';
import type { H2Stream } from '../../../src/h2/stream.js';
import { FakeSocket } from '../../helpers/fake-socket.js';

const REQUEST = [':method', 'POST', ':scheme', 'http', ':authority', 'svc', ':path', '/a.B/C', 'content-type', 'application/grpc'];

function serverWithPeer(opts: { maxUnsentBytes?: number } = {}) {
  const socket = new FakeSocket();
  const conn = new H2Connection(socket.asSocket, { role: 'server', ...opts });
  const streams: H2Stream[] = [];
  conn.on('stream', (s: H2Stream) => streams.push(s));
  const enc = new HpackEncoder();
  socket.emit('data', Buffer.concat([CONNECTION_PREFACE, encodeSettings([])]));
  const open = (id: number) => socket.emit('data', encodeHeaders(id, enc.encode(REQUEST), true, 16384));
  const reset = (id: number) => socket.emit('data', encodeRstStream(id, ErrorCode.CANCEL));
  const goaway = () => socket.frames().find((f) => f.type === FrameType.GOAWAY);
  return { socket, conn, streams, open, reset, goaway };
}

describe('flood guards', () => {
  it('a peer that resets streams right after opening them, 500 times, gets GOAWAY ENHANCE_YOUR_CALM', () => {
    const { conn, open, reset, goaway } = serverWithPeer();
    let id = 1;
    for (; id < 2 * 499; id += 2) {
      open(id);
      reset(id);
    }
    expect(conn.destroyed).toBe(false);
    open(id);
    reset(id);
    expect(conn.destroyed).toBe(true);
    expect(goaway()?.payload.readUInt32BE(4)).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  });

  it('after that GOAWAY, streams in flight still finish and new ones are refused', () => {
    const { conn, streams, open, reset, goaway, socket } = serverWithPeer();
    open(1); // an unrelated call, in flight throughout
    const inflight = streams[0] as H2Stream;
    for (let id = 3; id < 3 + 2 * 500; id += 2) {
      open(id);
      reset(id);
    }
    conn.flush();
    expect(goaway()?.payload.readUInt32BE(4)).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(conn.destroyed).toBe(false);
    open(2001);
    conn.flush();
    const refused = socket.frames().find((f) => f.type === FrameType.RST_STREAM && f.streamId === 2001);
    expect(refused?.payload.readUInt32BE(0)).toBe(ErrorCode.REFUSED_STREAM);
    inflight.respond({ ':status': 200, 'grpc-status': '0' }, true);
    expect(inflight.rstCode).toBe(0);
    expect(conn.destroyed).toBe(true); // the last stream finished: the graceful close completes
  });

  it('cancellations among many completed calls are ordinary: the connection stays', () => {
    const { conn, streams, open, reset, goaway } = serverWithPeer();
    let id = 1;
    // 700 calls answered normally, then 600 cancelled before an answer: 600 < half of 1300.
    for (let i = 0; i < 700; i++, id += 2) {
      open(id);
      (streams.at(-1) as H2Stream).respond({ ':status': 200, 'grpc-status': '0' }, true);
    }
    for (let i = 0; i < 600; i++, id += 2) {
      open(id);
      reset(id);
    }
    expect(conn.destroyed).toBe(false);
    expect(goaway()).toBeUndefined();
  });

  it('a peer that sends PINGs and reads nothing is cut off once the unsent bytes pass the limit', () => {
    const { socket, conn, goaway } = serverWithPeer({ maxUnsentBytes: 4096 });
    const ping = encodePing(Buffer.alloc(8), false);
    socket.emit('data', ping);
    conn.flush();
    expect(conn.destroyed).toBe(false); // the ACK went out; the peer reads
    socket.writableLength = 5000; // from now on it does not
    socket.emit('data', ping);
    conn.flush();
    expect(conn.destroyed).toBe(true);
    expect(goaway()?.payload.readUInt32BE(4)).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(socket.ended).toBe(true);
  });
});
