// SPDX-License-Identifier: Apache-2.0
// PING of the engine (RFC 9113 §6.7): our PINGs with their callbacks, and the ACKs we owe the peer for its own.

import { encodePing } from './frame.js';

/** The 8 opaque bytes every PING of ours carries (§6.7); the peer echoes them in its ACK. */
const PING_PAYLOAD = Buffer.from('meshlet!', 'latin1');

// A PING's life:
// 1. ping(callback) returns the PING frame to queue; the callback waits behind those of earlier PINGs.
// 2. The peer answers each PING with an ACK carrying the same payload (§6.7). Ours all carry the same bytes, so an
//    ACK answers the oldest PING outstanding: its callback runs with null.
// 3. If the connection ends first, every callback still waiting runs with an error (failAll).
// The other way round, a PING from the peer is answered with an ACK echoing its payload (pong), queued with the
// other frames of the turn.

/** The PINGs of one connection. */
export class PingPong {
  /** Callbacks of our PINGs not acknowledged yet, oldest first. */
  private callbacks: Array<(err: Error | null) => void> = [];

  /** Step 1: `callback` waits for the ACK; returns the PING frame to send. */
  ping(callback: (err: Error | null) => void): Buffer {
    this.callbacks.push(callback);
    return encodePing(PING_PAYLOAD, false);
  }

  /** Step 2: an ACK arrived; the oldest PING outstanding is answered. */
  onAck(): void {
    this.callbacks.shift()?.(null);
  }

  /** The ACK to send for the peer's PING with `payload` (§6.7). */
  pong(payload: Buffer): Buffer {
    return encodePing(payload, true);
  }

  /** Step 3: the connection ended; every callback waiting gets `err`, or a "connection closed" error of its own. */
  failAll(err: Error | undefined): void {
    const callbacks = this.callbacks;
    this.callbacks = [];
    for (const cb of callbacks) cb(err ?? new Error('connection closed'));
  }
}
