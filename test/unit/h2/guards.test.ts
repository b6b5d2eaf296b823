// SPDX-License-Identifier: Apache-2.0
// The engine's abuse guards (src/h2/guards.ts) on their own: the rapid-reset count, the header block bound, the
// bounded HPACK decode, the unread-bytes check and the handshake timer. abuse.test.ts drives them over a connection.

import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConnectionError } from '../../../src/h2/errors.js';
import { ErrorCode } from '../../../src/h2/frame.js';
import {
  boundedHpackDecoder,
  checkHeaderBlockSize,
  decodeHeaderBlock,
  HandshakeGuard,
  headerBlockLimit,
  RapidResetGuard,
  unreadFlood,
} from '../../../src/h2/guards.js';
import { HpackEncoder } from '../../../src/h2/hpack/encoder.js';
import { HpackError } from '../../../src/h2/hpack/errors.js';

describe('RapidResetGuard', () => {
  it('trips at the 500th premature reset when those are at least half of the streams opened', () => {
    const guard = new RapidResetGuard();
    const now = performance.now();
    for (let i = 0; i < 499; i++) {
      guard.onOpen();
      expect(guard.onReset(false, now)).toBe(false);
    }
    guard.onOpen();
    expect(guard.onReset(false, now)).toBe(true);
    expect(guard.reason()).toBe('the peer reset 500 of its 500 streams right after opening them');
  });

  it('does not count resets of answered streams or of streams open for a second or more', () => {
    const guard = new RapidResetGuard();
    const now = performance.now();
    for (let i = 0; i < 1000; i++) {
      guard.onOpen();
      expect(guard.onReset(true, now)).toBe(false);
      expect(guard.onReset(false, now - 1000)).toBe(false);
    }
    expect(guard.reason()).toBe('the peer reset 0 of its 1000 streams right after opening them');
  });

  it('does not trip while the premature resets are under half of all streams', () => {
    const guard = new RapidResetGuard();
    for (let i = 0; i < 1001; i++) guard.onOpen();
    const now = performance.now();
    for (let i = 0; i < 500; i++) expect(guard.onReset(false, now)).toBe(false);
    expect(guard.onReset(false, now)).toBe(true); // 501 * 2 >= 1001
  });
});

describe('header block bound (CONTINUATION floods)', () => {
  it('allows twice the header list limit and fails past it with ENHANCE_YOUR_CALM', () => {
    const limit = headerBlockLimit(64 * 1024);
    expect(limit).toBe(128 * 1024);
    expect(() => checkHeaderBlockSize(limit, limit, 1)).not.toThrow();
    const err = (() => {
      try {
        checkHeaderBlockSize(limit + 1, limit, 7);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect((err as ConnectionError).message).toBe(`header block on stream 7 exceeds ${limit} bytes`);
  });
});

describe('bounded HPACK decode', () => {
  it('reports a list over the limit as too large, and keeps the table in sync for the next block', () => {
    const enc = new HpackEncoder();
    const dec = boundedHpackDecoder(100);
    const list: string[] = [];
    const never: string[] = [];
    const big = enc.encode(['x-big', 'v'.repeat(200), 'x-small', 'a']);
    expect(decodeHeaderBlock(dec, big, 0, big.length, list, never)).toBe(true);
    list.length = 0;
    const small = enc.encode(['x-small', 'a']);
    expect(decodeHeaderBlock(dec, small, 0, small.length, list, never)).toBe(false);
    expect(list).toEqual(['x-small', 'a']);
  });

  it('throws malformed blocks on (a connection error)', () => {
    const dec = boundedHpackDecoder(100);
    expect(() => decodeHeaderBlock(dec, Buffer.from([0x80]), 0, 1, [], [])).toThrow(HpackError);
  });
});

describe('unreadFlood', () => {
  it('is undefined up to the limit and an error naming the unread bytes past it', () => {
    const socket = (writableLength: number) => ({ writableLength }) as unknown as Socket;
    expect(unreadFlood(socket(4096), 4096)).toBeUndefined();
    expect(unreadFlood(socket(4097), 4096)?.message).toBe('the peer left 4097 bytes unread');
  });
});

describe('HandshakeGuard', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('destroys the connection with SETTINGS_TIMEOUT when time is up, not after stop(), never with 0', () => {
    vi.useFakeTimers();
    const calls: Array<[string | undefined, number | undefined]> = [];
    const conn = { destroy: (err?: Error, code?: number) => calls.push([err?.message, code]) };
    const late = new HandshakeGuard();
    late.start(conn, 100);
    const stopped = new HandshakeGuard();
    stopped.start(conn, 100);
    stopped.stop();
    new HandshakeGuard().start(conn, 0);
    vi.advanceTimersByTime(99);
    expect(calls).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(calls).toEqual([['no HTTP/2 preface and SETTINGS within 100 ms', ErrorCode.SETTINGS_TIMEOUT]]);
  });
});
