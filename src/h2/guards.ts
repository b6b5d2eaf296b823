// SPDX-License-Identifier: Apache-2.0
// The engine's abuse guards (RFC 9113 §10.5): the limits a peer cannot make a connection exceed, and what happens
// when it tries. Each is a rule here; the connection parts call it where the frames pass.

import type { Socket } from 'node:net';
import { ConnectionError } from './errors.js';
import { ErrorCode } from './frame.js';
import { HpackDecoder } from './hpack/decoder.js';
import { HpackError } from './hpack/errors.js';

// What each guard stops, and where it is applied:
// 1. Rapid reset (CVE-2023-44487): a peer that opens streams and resets them at once makes a server start work it
//    never finishes, for free. RapidResetGuard counts; on a server, the stream table asks it on each RST_STREAM;
//    tripped, the connection sends GOAWAY ENHANCE_YOUR_CALM and takes no new streams (goaway.ts, step 2).
// 2. CONTINUATION flood: a header block sent as endless CONTINUATION frames must be buffered until END_HEADERS.
//    checkHeaderBlockSize bounds it (incoming-headers.ts); over the bound is a connection error, ENHANCE_YOUR_CALM.
// 3. HPACK bombs (RFC 7541 §7.3): the peer's dynamic table is held to HPACK_TABLE_BYTES, and a decoded header list
//    over SETTINGS_MAX_HEADER_LIST_SIZE is cut as it is built (decodeHeaderBlock); that is a stream error only.
// 4. Unread replies: a peer that floods PINGs or SETTINGS but never reads makes us queue ACKs without end (§10.5).
//    unreadFlood looks at the socket after each write (write-scheduler.ts); over the limit the connection is
//    destroyed with GOAWAY ENHANCE_YOUR_CALM. DATA needs no such guard: it stops at the socket's high-water mark.
// 6. Stream floods: a peer that keeps opening streams over our SETTINGS_MAX_CONCURRENT_STREAMS (or while the
//    stream memory budget is spent, memory-budget.ts) gets REFUSED_STREAM for each; RefusalGuard counts them and,
//    past REFUSALS_MAX on one connection, the connection sends GOAWAY ENHANCE_YOUR_CALM and takes no new streams
//    (goaway.ts, step 2): a client that ignores the limit is not answered one RST_STREAM per HEADERS forever.
//    One that still opens REFUSALS_AFTER_GOAWAY streams after that GOAWAY ignores it too: a connection error
//    ENHANCE_YOUR_CALM ends the connection (its streams in flight included), and nothing more of it is read.
// 5. Slow handshakes: a server gives the peer a bounded time for its preface and SETTINGS (§3.4), then closes with
//    GOAWAY SETTINGS_TIMEOUT (HandshakeGuard): port scanners and slowloris sockets do not stay forever.

/** Rapid reset: the peer reset at least this many streams right after opening them... */
const PREMATURE_RESET_MIN = 500;
/** ...within this long of opening each, before we answered... (and at least half of all its streams: Envoy's rule). */
const PREMATURE_RESET_MS = 1000;
/** CONTINUATION flood: a header block may be this many times SETTINGS_MAX_HEADER_LIST_SIZE, encoded, at most. */
const MAX_HEADER_BLOCK_FACTOR = 2;
/**
 * HPACK: the largest dynamic table the peer's encoder may use, which bounds the table's memory. It is the RFC's
 * SETTINGS_HEADER_TABLE_SIZE default (§6.5.2), which we never change.
 */
export const HPACK_TABLE_BYTES = 4096;

/**
 * Guard 1, counting for one server connection (Envoy's thresholds): tripped once the peer has reset at least
 * PREMATURE_RESET_MIN streams within PREMATURE_RESET_MS of opening them and before we ended our side, and those are
 * at least half of all the streams it opened. Ordinary cancellations among completed calls never trip it.
 */
export class RapidResetGuard {
  /** Streams the peer opened. */
  private opened = 0;
  /** Streams the peer reset prematurely. */
  private premature = 0;

  /** The peer opened a stream. */
  onOpen(): void {
    this.opened++;
  }

  /**
   * The peer reset a stream that opened at `openedMs` (performance.now()); `localEnded` when we had already ended
   * our side (answered). True when the guard is tripped.
   */
  onReset(localEnded: boolean, openedMs: number): boolean {
    if (localEnded || performance.now() - openedMs >= PREMATURE_RESET_MS) return false;
    this.premature++;
    return this.premature >= PREMATURE_RESET_MIN && this.premature * 2 >= this.opened;
  }

  /** What tripped it, for GOAWAY debug data and `closeError`. */
  reason(): string {
    return `the peer reset ${this.premature} of its ${this.opened} streams right after opening them`;
  }
}

/** Stream floods: this many refused streams on one connection make it GOAWAY ENHANCE_YOUR_CALM (guard 6). */
export const REFUSALS_MAX = 1000;

/** Stream floods: streams opened after our GOAWAY ENHANCE_YOUR_CALM that make it a connection error (guard 6). */
export const REFUSALS_AFTER_GOAWAY = 100;

/** Guard 6, counting for one server connection. */
export class RefusalGuard {
  private refused = 0;
  private afterCalm = 0;

  /** A stream was opened after our GOAWAY ENHANCE_YOUR_CALM; throws the connection error once it is one too many. */
  afterGoaway(): void {
    if (++this.afterCalm >= REFUSALS_AFTER_GOAWAY) {
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `the peer opened ${this.afterCalm} streams after GOAWAY ENHANCE_YOUR_CALM`);
    }
  }

  /** A stream was refused; true when that makes REFUSALS_MAX (the connection should refuse new streams). */
  onRefused(): boolean {
    return ++this.refused === REFUSALS_MAX;
  }

  /** What tripped it, for GOAWAY debug data and `closeError`. */
  reason(last: string): string {
    return `the peer opened ${this.refused} streams that were refused (last: ${last.replaceAll('_', ' ')})`;
  }
}

/** Guard 2: the largest encoded header block (HEADERS + CONTINUATION) accepted for a header list limit. */
export function headerBlockLimit(maxHeaderListBytes: number): number {
  return maxHeaderListBytes * MAX_HEADER_BLOCK_FACTOR;
}

/** Guard 2: throws ENHANCE_YOUR_CALM, a connection error, once a header block being assembled passes `limit`. */
export function checkHeaderBlockSize(size: number, limit: number, streamId: number): void {
  if (size > limit) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `header block on stream ${streamId} exceeds ${limit} bytes`);
}

/** Guard 3: an HPACK decoder for the peer's header blocks, its table and decoded lists bounded. */
export function boundedHpackDecoder(maxHeaderListBytes: number): HpackDecoder {
  return new HpackDecoder(HPACK_TABLE_BYTES, maxHeaderListBytes);
}

/**
 * Guard 3: decodes a complete header block, `block[start, end)`, into `list` (name, value, ...) and the names sent
 * never-indexed into `neverIndexed`. Returns true when the list was over the decoder's limit or a field value is
 * one RFC 9113 §8.2.1 forbids (NUL, CR, LF, whitespace at either end): a stream error for the caller (malformed,
 * §8.1.1); the block was still decoded in full, so HPACK state stays in sync. Any other HpackError is thrown: the
 * decoder's state is lost, a connection error (COMPRESSION_ERROR, §4.3).
 */
export function decodeHeaderBlock(decoder: HpackDecoder, block: Buffer, start: number, end: number, list: string[], neverIndexed: string[]): boolean {
  try {
    decoder.decode(block, start, end, list, neverIndexed);
  } catch (err) {
    if (!(err instanceof HpackError) || !err.tooLarge) throw err;
    return true;
  }
  return decoder.badValueName !== undefined;
}

/**
 * Guard 4, after a write: the error to destroy the connection with (GOAWAY ENHANCE_YOUR_CALM) when the peer left
 * more than `maxUnsentBytes` unread in `socket`; undefined otherwise.
 */
export function unreadFlood(socket: Socket, maxUnsentBytes: number): Error | undefined {
  if (socket.writableLength <= maxUnsentBytes) return undefined;
  return new Error(`the peer left ${socket.writableLength} bytes unread`);
}

/** What guard 5 ends when time is up: the connection. */
export interface Destroyable {
  destroy(err?: Error, code?: number): void;
}

/** Guard 5: the handshake timer of a server connection. */
export class HandshakeGuard {
  private timer: NodeJS.Timeout | undefined;

  /** Gives the peer `timeoutMs` (0: no limit) for its preface and first SETTINGS, then destroys `conn`. */
  start(conn: Destroyable, timeoutMs: number): void {
    if (timeoutMs <= 0) return;
    this.timer = setTimeout(handshakeTimedOut, timeoutMs, conn, timeoutMs);
    this.timer.unref();
  }

  /** The peer's first SETTINGS arrived, or the connection ended: no more timeout. */
  stop(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function handshakeTimedOut(conn: Destroyable, timeoutMs: number): void {
  conn.destroy(new Error(`no HTTP/2 preface and SETTINGS within ${timeoutMs} ms`), ErrorCode.SETTINGS_TIMEOUT);
}
