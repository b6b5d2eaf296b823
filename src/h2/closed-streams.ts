// SPDX-License-Identifier: Apache-2.0
// A bounded record of a connection's recently closed streams and how each closed, so that a frame on a stream no
// longer in the table gets the answer RFC 9113 §5.1 gives for that way of closing (streams.ts, incoming-headers.ts).

/** How a stream closed, as far as frames arriving on it afterwards are concerned (RFC 9113 §5.1, "closed"). */
export const ClosedHow = {
  /** Not in the record: never opened, or closed so long ago that it was forgotten. */
  Unknown: 0,
  /** We sent RST_STREAM (a reset, a refusal, a malformed request): frames already in flight are ignored. */
  ResetSent: 1,
  /** The peer sent RST_STREAM: any further frame but PRIORITY is a stream error STREAM_CLOSED. */
  ResetReceived: 2,
  /** Both sides sent END_STREAM: DATA is a stream error STREAM_CLOSED, HEADERS a connection error. */
  Ended: 3,
  /** Server: an id below one the peer opened, never used itself: implicitly closed by the higher one (§5.1.1). */
  Skipped: 4,
} as const;
export type ClosedHow = (typeof ClosedHow)[keyof typeof ClosedHow];

/**
 * How many closed streams a connection remembers. Frames that cross a close on the wire arrive within about one
 * round trip; with the default limit of 128 concurrent streams, 512 covers several rounds of closes. 2.5 KiB per
 * connection, allocated on the first close.
 */
export const CLOSED_STREAMS_REMEMBERED = 512;

/**
 * The last CLOSED_STREAMS_REMEMBERED closed stream ids of one connection, with how each closed: a ring of ids
 * searched linearly, which only frames on streams no longer open do (a rare path), so the hot path pays one store
 * per close. `forgottenMax` is the highest id that left the ring: a stream id above it that is in neither the
 * table nor the ring was never opened.
 */
export class ClosedStreams {
  /** The highest stream id pushed out of the ring (0 before any). */
  forgottenMax = 0;
  private ids: Int32Array | undefined;
  private hows: Uint8Array | undefined;
  private next = 0;
  private count = 0;
  private readonly capacity: number;

  constructor(capacity = CLOSED_STREAMS_REMEMBERED) {
    this.capacity = capacity;
  }

  /** Records that stream `id` closed `how`. An id already recorded is recorded again (the newest answer wins). */
  add(id: number, how: ClosedHow): void {
    if (this.ids === undefined) {
      this.ids = new Int32Array(this.capacity);
      this.hows = new Uint8Array(this.capacity);
    }
    const at = this.next;
    if (this.count === this.capacity) {
      const old = this.ids[at] as number;
      if (old > this.forgottenMax) this.forgottenMax = old;
    } else {
      this.count++;
    }
    this.ids[at] = id;
    (this.hows as Uint8Array)[at] = how;
    this.next = at + 1 === this.capacity ? 0 : at + 1;
  }

  /** How stream `id` closed, or Unknown when it is not in the record. */
  get(id: number): ClosedHow {
    const ids = this.ids;
    if (ids === undefined) return ClosedHow.Unknown;
    // Newest first: a re-recorded id answers with its latest close.
    for (let n = 0, i = this.next; n < this.count; n++) {
      i = i === 0 ? this.capacity - 1 : i - 1;
      if (ids[i] === id) return (this.hows as Uint8Array)[i] as ClosedHow;
    }
    return ClosedHow.Unknown;
  }
}
