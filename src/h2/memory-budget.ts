// SPDX-License-Identifier: Apache-2.0
// The memory budget that the streams of all a process's listener connections share (RFC 9113 §10.5): each open
// stream reserves a fixed share and each byte of request data held unread counts, so no single peer, however many
// connections or streams it opens, can take the sidecar's memory. Past the budget new streams are refused
// (incoming-headers.ts). Pure bookkeeping: no I/O, no timers.

/**
 * What one open stream reserves: its engine state plus the call the proxy builds for it, both legs (measured: a
 * flood of 100,000 never-finished streams grew RSS by ~5.3 KB a stream before the limits existed), rounded up.
 */
export const STREAM_RESERVE_BYTES = 8 * 1024;

/** A budget of bytes, shared by reference. Not thread-safe (nothing in node needs it). */
export class MemoryBudget {
  /** Bytes reserved or held now. */
  usedBytes = 0;
  /** The budget; Infinity = unlimited. */
  readonly limitBytes: number;

  /** `limitBytes`: the budget in bytes (0 or Infinity: unlimited). */
  constructor(limitBytes: number) {
    this.limitBytes = limitBytes > 0 ? limitBytes : Infinity;
  }

  /** Reserves `bytes` when they fit; false (nothing reserved) when the budget would be exceeded. */
  reserve(bytes: number): boolean {
    if (this.usedBytes + bytes > this.limitBytes) return false;
    this.usedBytes += bytes;
    return true;
  }

  /** Counts `bytes` that are held already (data that arrived within flow control): they may pass the budget. */
  hold(bytes: number): void {
    this.usedBytes += bytes;
  }

  /** Gives back `bytes` reserved or held. */
  release(bytes: number): void {
    this.usedBytes -= bytes;
  }
}
