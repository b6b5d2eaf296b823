// SPDX-License-Identifier: Apache-2.0
// Seeded robustness checks for the engine's parsers: whatever bytes a peer sends, the frame reader and HPACK
// decoder throw only their typed errors, and a connection never lets an exception escape its socket handler; it
// either keeps going or ends with a GOAWAY and exactly one 'close'.

import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FakeSocket } from '../../helpers/fake-socket.js';
import { seededRandom as prng } from '../../helpers/prng.js';
import { H2Connection } from '../../../src/h2/connection.js';
import { CONNECTION_PREFACE, FrameError } from '../../../src/h2/frame.js';
import { FrameReader } from '../../../src/h2/frame-reader.js';
import { HpackDecoder } from '../../../src/h2/hpack/decoder.js';
import { HpackEncoder } from '../../../src/h2/hpack/encoder.js';
import { HpackError } from '../../../src/h2/hpack/errors.js';

function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** A frame with a valid 9-byte header shape and a random type, flags, small stream id and payload. */
function randomFrame(rand: () => number, blocks: Buffer[]): Buffer {
  const type = Math.floor(rand() * 11);
  let payload: Buffer;
  // Mostly well-formed lengths, so sequences get past the first frame and reach the stream state machine.
  const fixed: Record<number, number> = { 2: 5, 3: 4, 4: 6, 6: 8, 7: 8, 8: 4 };
  if (type === 1 && rand() < 0.7) payload = blocks[Math.floor(rand() * blocks.length)] as Buffer;
  else if (fixed[type] !== undefined && rand() < 0.8) payload = randomBytes(rand, fixed[type] as number);
  else payload = randomBytes(rand, Math.floor(rand() * 24));
  const frame = Buffer.alloc(9 + payload.length);
  frame.writeUIntBE(payload.length, 0, 3);
  frame[3] = type;
  frame[4] = Math.floor(rand() * 256) & (rand() < 0.8 ? 0x05 : 0xff);
  const controlFrame = type === 4 || type === 6 || type === 7;
  frame.writeUInt32BE(controlFrame && rand() < 0.8 ? 0 : 1 + 2 * Math.floor(rand() * 4), 5);
  payload.copy(frame, 9);
  return frame;
}

describe('engine robustness (seeded)', () => {
  it('the frame reader throws only FrameError on random bytes', () => {
    const rand = prng(1);
    for (let i = 0; i < 2000; i++) {
      const reader = new FrameReader({ onFrame() {} });
      if (i % 2 === 0) reader.expectPreface();
      try {
        reader.push(randomBytes(rand, 1 + Math.floor(rand() * 64)));
      } catch (err) {
        expect(err).toBeInstanceOf(FrameError);
      }
    }
  });

  it('the HPACK decoder throws only HpackError on random and mutated blocks', () => {
    const rand = prng(2);
    const enc = new HpackEncoder();
    const good = enc.encode([':method', 'POST', ':path', '/a.B/C', 'content-type', 'application/grpc', 'x-k', 'v'.repeat(40)]);
    for (let i = 0; i < 3000; i++) {
      let block: Buffer;
      if (i % 2 === 0) {
        block = randomBytes(rand, Math.floor(rand() * 48));
      } else {
        block = Buffer.from(good);
        block[Math.floor(rand() * block.length)] = Math.floor(rand() * 256);
      }
      try {
        new HpackDecoder().decode(block, 0, block.length, []);
      } catch (err) {
        expect(err).toBeInstanceOf(HpackError);
      }
    }
  });

  it('a connection survives or fails cleanly (GOAWAY, one close) on random frame sequences, both roles', () => {
    const rand = prng(3);
    const enc = new HpackEncoder();
    const blocks = [
      enc.encode([':method', 'POST', ':scheme', 'http', ':path', '/a.B/C', ':authority', 'x', 'te', 'trailers']),
      enc.encode([':status', '200', 'content-type', 'application/grpc']),
      enc.encode(['grpc-status', '0']),
    ];
    let survived = 0;
    for (let i = 0; i < 600; i++) {
      const socket = new FakeSocket();
      const role = i % 2 === 0 ? 'server' : 'client';
      const conn = new H2Connection(socket as unknown as Socket, { role });
      let closes = 0;
      conn.on('close', () => closes++);
      conn.on('stream', (stream: EventEmitter & { respond(h: object, end?: boolean): void }) => {
        stream.on('data', () => {});
        if (rand() < 0.5) stream.respond({ ':status': 200 }, rand() < 0.5);
      });
      if (role === 'client') {
        for (let k = 0; k < 3; k++) conn.request({ ':method': 'POST', ':scheme': 'http', ':path': '/a.B/C', ':authority': 'x' }).on('data', () => {});
      }
      const frames = [role === 'server' ? CONNECTION_PREFACE : Buffer.alloc(0), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])];
      const n = 1 + Math.floor(rand() * 12);
      for (let k = 0; k < n; k++) frames.push(randomFrame(rand, blocks));
      const wire = Buffer.concat(frames);
      // Fed in random splits: the result must not depend on how TCP cut the bytes.
      for (let off = 0; off < wire.length && !conn.destroyed; ) {
        const len = 1 + Math.floor(rand() * 40);
        expect(() => socket.emit('data', wire.subarray(off, off + len))).not.toThrow();
        off += len;
      }
      conn.flush();
      if (conn.destroyed) expect(closes).toBe(1);
      else survived++;
      conn.destroy();
      expect(closes).toBe(1);
    }
    // The generator must exercise both outcomes, or it tests nothing.
    expect(survived).toBeGreaterThan(20);
    expect(survived).toBeLessThan(580);
  });
});
