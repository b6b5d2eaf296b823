// SPDX-License-Identifier: Apache-2.0
// Flow-control window arithmetic of the engine (RFC 9113 §5.2, §6.9), for the connection and its streams, both
// directions. Bookkeeping only: callers send the WINDOW_UPDATE frames it asks for and apply the errors it reports.

import { ConnectionError } from './errors.js';
import { ErrorCode } from './frame.js';

/** The largest flow-control window, 2^31-1 (RFC 9113 §6.9.1). */
export const MAX_WINDOW = 0x7fffffff;
/** The window of a connection, and of every stream before SETTINGS_INITIAL_WINDOW_SIZE, at the start (§6.9.2). */
export const DEFAULT_WINDOW = 65535;

// Receiving (our windows, which the peer's DATA uses up):
// 1. We advertise a window: SETTINGS_INITIAL_WINDOW_SIZE for each stream, a first WINDOW_UPDATE on stream 0 for
//    the connection (its initial window cannot be set otherwise, §6.9.2).
// 2. Each DATA frame's flow-controlled length (payload and padding, §6.9.1) is taken from both windows when it
//    arrives. Below 0 the peer broke flow control: a connection error for the connection window, a stream error
//    for a stream's (FLOW_CONTROL_ERROR either way).
// 3. Bytes are credited back only once the reader consumed them (or they were thrown away unread), so what one
//    connection holds unread is bounded by its window, however many streams the peer opens.
// 4. Credits add up in `unacked` and go out as one WINDOW_UPDATE once half the window is used: few WINDOW_UPDATEs,
//    and the peer never waits for one while it still has half a window.
// Sending (the peer's windows, which our DATA uses up):
// 1. A stream starts with the peer's SETTINGS_INITIAL_WINDOW_SIZE, the connection with 65535.
// 2. A later change of SETTINGS_INITIAL_WINDOW_SIZE moves every open stream's window by the difference; it may go
//    negative, and past 2^31-1 it is a connection error (§6.9.2).
// 3. WINDOW_UPDATE adds its increment; past 2^31-1 is an error of the stream or the connection (§6.9.1).
// 4. DATA goes out only within both windows (write-scheduler.ts), which it then lowers.
//
// The connection's windows are a ConnectionFlow; a stream's are fields of its H2Stream, handled by the functions
// below. They are kept apart on purpose: each property access then sees a single object shape (monomorphic).

/** The connection's flow-control windows, both directions (§6.9). */
export class ConnectionFlow {
  /** Bytes of DATA we may still send on the connection (the peer's connection window). */
  sendWindow = DEFAULT_WINDOW;
  /** Bytes of DATA the peer may still send before our next WINDOW_UPDATE on stream 0. */
  recvWindow = DEFAULT_WINDOW;
  /** Bytes read or thrown away and not yet credited back to the peer. */
  unacked = 0;
  /** Times a stream had DATA to send and the connection's send window was spent (the peer's window is the limit). */
  sendStalls = 0;

  /** `recvWindowSize`: the connection receive window we advertise (at least 65535). */
  constructor(readonly recvWindowSize: number) {}

  /**
   * Takes the receive window from 65535 to `recvWindowSize` (step 1). Returns the increment of the WINDOW_UPDATE on
   * stream 0 that announces it, or 0 when no WINDOW_UPDATE is needed.
   */
  openRecvWindow(): number {
    if (this.recvWindowSize <= DEFAULT_WINDOW) return 0;
    this.recvWindow = this.recvWindowSize;
    return this.recvWindowSize - DEFAULT_WINDOW;
  }

  /** A DATA frame of `flowLength` bytes arrived (step 2). Throws FLOW_CONTROL_ERROR when it overran the window. */
  receive(flowLength: number): void {
    this.recvWindow -= flowLength;
    if (this.recvWindow < 0) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'the peer overran the connection window');
  }

  /** `bytes` of DATA were read or thrown away (step 3). True once half the window is owed: send takeCredit(). */
  release(bytes: number): boolean {
    this.unacked += bytes;
    return this.unacked >= this.recvWindowSize >> 1;
  }

  /** The increment of the WINDOW_UPDATE on stream 0 that pays back what is owed; the receive window grows by it. */
  takeCredit(): number {
    const increment = this.unacked;
    this.recvWindow += increment;
    this.unacked = 0;
    return increment;
  }

  /** A WINDOW_UPDATE on stream 0 (sending, step 3). Throws on an increment of 0 (§6.9) or an overflow (§6.9.1). */
  windowUpdate(increment: number): void {
    if (increment === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE with increment 0 on the connection');
    this.sendWindow += increment;
    if (this.sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection send window overflow');
  }
}

/** The flow-control fields of one stream (H2Stream has them). */
export interface StreamWindows {
  /** Bytes we may still send on the stream. May be negative after a SETTINGS change (§6.9.2). */
  sendWindow: number;
  /** Bytes the peer may still send on the stream before our next WINDOW_UPDATE. */
  recvWindow: number;
  /** Bytes consumed by the reader and not yet credited back to the peer. */
  unacked: number;
}

/**
 * Adds `delta` to a stream's send window: a WINDOW_UPDATE increment, or the change of the peer's
 * SETTINGS_INITIAL_WINDOW_SIZE (sending, steps 2-3). False when the window passed 2^31-1 (§6.9.1).
 */
export function growSendWindow(stream: StreamWindows, delta: number): boolean {
  stream.sendWindow += delta;
  return stream.sendWindow <= MAX_WINDOW;
}

/** A DATA frame of `flowLength` bytes arrived on a stream (receiving, step 2). False when it overran the window. */
export function takeRecvWindow(stream: StreamWindows, flowLength: number): boolean {
  stream.recvWindow -= flowLength;
  return stream.recvWindow >= 0;
}

/**
 * The reader of a stream consumed `bytes` (receiving, step 3). True once half of `windowSize` (the stream window we
 * advertise) is owed: send takeStreamCredit() unless the stream can receive nothing more anyway.
 */
export function releaseStream(stream: StreamWindows, bytes: number, windowSize: number): boolean {
  stream.unacked += bytes;
  return stream.unacked >= windowSize >> 1;
}

/** The increment of the stream's WINDOW_UPDATE that pays back what is owed; its receive window grows by it. */
export function takeStreamCredit(stream: StreamWindows): number {
  const increment = stream.unacked;
  stream.recvWindow += increment;
  stream.unacked = 0;
  return increment;
}
