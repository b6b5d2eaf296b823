// SPDX-License-Identifier: Apache-2.0
// The per-call watch behind the timeout layer's two guards (docs/decisions.md §15): a call without a deadline whose
// upstream has not started answering within `unaryTimeoutMs`, and a call with no DATA either way for
// `idleTimeoutMs`. Pure: the layer owns the timer, reads the clock and the call's byte counters, and asks `check`.

/** Which guard ended the call. */
export type StreamWatchVerdict = 'unary' | 'idle';

export interface StreamWatchOptions {
  /** performance.now() when the call arrived. */
  readonly startMs: number;
  /** Time from arrival for the response to start; 0 = not applied (the call has a deadline, or the guard is off). */
  readonly unaryTimeoutMs: number;
  /** Time without activity before the call is ended; 0 = off. */
  readonly idleTimeoutMs: number;
  /** How often the idle guard wants a look; default a quarter of idleTimeoutMs. */
  readonly idleCheckMs?: number;
}

/** What the layer observed of the call at a check. */
export interface StreamWatchObservation {
  /** Bytes moved so far, both directions (only its changes matter). */
  readonly activity: number;
  /** The upstream's response headers have arrived. */
  readonly responseStarted: boolean;
  /** The downstream is still sending its request (a client or bidi stream). */
  readonly requestOpen: boolean;
}

/** By default the idle guard looks every quarter of its timeout, so it ends a call after 1 to 1.25 times the timeout of silence. */
export const IDLE_CHECKS_PER_TIMEOUT = 4;

/**
 * One call's guards. State machine:
 * 1. The unary guard is armed (due at start + unaryTimeoutMs) unless that is 0. It is lifted for good at the first
 *    check that sees the response started; at its due time it ends the call unless the request is still open
 *    (a stream still sending is the idle guard's business), in which case it is lifted too.
 * 2. The idle guard remembers the activity it last saw and since when it has not changed ("quiet since", first the
 *    start). A check that sees new activity moves "quiet since" to now; one that finds it quiet for idleTimeoutMs
 *    ends the call. Checks come every `idleCheckMs` (default idleTimeoutMs / 4); a call is ended after
 *    idleTimeoutMs to idleTimeoutMs + 2 × idleCheckMs of silence (the check that saw the last activity came up to
 *    one period after it; the one that finds the silence long enough, up to one period after that).
 * 3. `next` is when the layer must check again; Infinity when neither guard is armed.
 */
export class StreamWatch {
  private unaryDueMs: number;
  private readonly idleMs: number;
  private readonly tickMs: number;
  private lastActivity = 0;
  private quietSinceMs: number;
  /** When to call `check` next (performance.now() clock); Infinity = never. */
  next: number;

  constructor(options: StreamWatchOptions) {
    this.unaryDueMs = options.unaryTimeoutMs > 0 ? options.startMs + options.unaryTimeoutMs : Infinity;
    this.idleMs = Math.max(0, options.idleTimeoutMs);
    this.tickMs = Math.max(1, Math.floor(options.idleCheckMs ?? this.idleMs / IDLE_CHECKS_PER_TIMEOUT));
    this.quietSinceMs = options.startMs;
    this.next = Math.min(this.unaryDueMs, this.idleMs > 0 ? options.startMs + this.tickMs : Infinity);
  }

  /** Looks at the call at `now`; returns the guard that ends it, or undefined and sets `next`. */
  check(now: number, seen: StreamWatchObservation): StreamWatchVerdict | undefined {
    if (this.unaryDueMs !== Infinity) {
      if (seen.responseStarted) this.unaryDueMs = Infinity;
      else if (now >= this.unaryDueMs) {
        if (!seen.requestOpen) return 'unary';
        this.unaryDueMs = Infinity;
      }
    }
    let idleNext = Infinity;
    if (this.idleMs > 0) {
      if (seen.activity !== this.lastActivity) {
        this.lastActivity = seen.activity;
        this.quietSinceMs = now;
      } else if (now - this.quietSinceMs >= this.idleMs) return 'idle';
      idleNext = now + this.tickMs;
    }
    this.next = Math.min(this.unaryDueMs, idleNext);
    return undefined;
  }
}
