// SPDX-License-Identifier: Apache-2.0
// The open streams of one connection by id: an open-addressing table on two plain arrays, instead of a Map.
//
// Why not a Map: a connection's table lives as long as the connection, so V8 soon moves it to the old generation,
// while every call adds one entry and deletes it a few milliseconds later. A Map with that churn rehashes every few
// calls, and V8 links each obsolete hash table to its successor (for live iterators). A dead obsolete table in the
// old generation then keeps its successor, the streams it held and everything they reach alive through every
// scavenge, and so on down the chain until the next full GC ("nepotism"). Measured on one sidecar at 1,000 calls/s:
// 2.9 MB promoted per scavenge and 6-8 ms scavenge pauses with a Map, against near zero promoted and 0.5-1 ms
// without (docs/performance.md, "Scavenges: finished calls kept alive by obsolete hash tables"). Arrays do not
// link their old backing stores, and this table clears every slot it frees, so a stream leaves no reference behind
// once it is deleted.

/** The smallest table; it grows past half full and shrinks below an eighth, never under this. */
const MIN_CAPACITY = 16;

/** Anything with a stream id (≥ 1). */
export interface HasStreamId {
  readonly id: number;
}

/**
 * A map from stream id to stream. Linear probing with backward-shift deletion (no tombstones), indexed by `id >>> 1`:
 * the ids of one connection's table share a parity (client-opened streams are odd), so the open streams, a sliding
 * window of recent ids, land in consecutive slots.
 */
export class StreamMap<V extends HasStreamId> {
  private ids: Int32Array;
  private values: Array<V | undefined>;
  private mask: number;
  private count = 0;

  constructor(capacity = MIN_CAPACITY) {
    const cap = roundUpPow2(Math.max(MIN_CAPACITY, capacity));
    this.ids = new Int32Array(cap);
    this.values = new Array<V | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Slots in the table (for tests: it grows and shrinks with the number of open streams). */
  get capacity(): number {
    return this.mask + 1;
  }

  get(id: number): V | undefined {
    const ids = this.ids;
    const mask = this.mask;
    for (let i = (id >>> 1) & mask; ; i = (i + 1) & mask) {
      const k = ids[i] as number;
      if (k === id) return this.values[i];
      if (k === 0) return undefined;
    }
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /** Adds or replaces the stream with `value.id`. */
  set(value: V): void {
    const id = value.id;
    if (!Number.isInteger(id) || id < 1 || id > 0x7fffffff) throw new RangeError(`StreamMap: stream id ${id} out of range`);
    if ((this.count + 1) * 2 > this.mask + 1) this.resize((this.mask + 1) * 2);
    const ids = this.ids;
    const mask = this.mask;
    for (let i = (id >>> 1) & mask; ; i = (i + 1) & mask) {
      const k = ids[i] as number;
      if (k === id) {
        this.values[i] = value;
        return;
      }
      if (k === 0) {
        ids[i] = id;
        this.values[i] = value;
        this.count++;
        return;
      }
    }
  }

  /** Removes stream `id`; true when it was there. The slot is cleared, so the table keeps no reference to it. */
  delete(id: number): boolean {
    const ids = this.ids;
    const values = this.values;
    const mask = this.mask;
    let i = (id >>> 1) & mask;
    for (;;) {
      const k = ids[i] as number;
      if (k === 0) return false;
      if (k === id) break;
      i = (i + 1) & mask;
    }
    // Backward shift: entries after the hole that may not sit before their home slot move into it.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = ids[j] as number;
      if (k === 0) break;
      const home = (k >>> 1) & mask;
      // Move k from j to the hole at i unless its home lies cyclically in (i, j].
      const homeInRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!homeInRange) {
        ids[i] = k;
        values[i] = values[j];
        i = j;
      }
    }
    ids[i] = 0;
    values[i] = undefined;
    this.count--;
    if (this.count * 8 < this.mask + 1 && this.mask + 1 > MIN_CAPACITY) this.resize((this.mask + 1) / 2);
    return true;
  }

  /** The streams in the table now, as a new array (safe to close them while walking it). At most `limit`. */
  list(limit = Infinity): V[] {
    const out: V[] = [];
    const values = this.values;
    for (let i = 0; i < values.length && out.length < limit; i++) {
      const v = values[i];
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  private resize(capacity: number): void {
    const oldIds = this.ids;
    const oldValues = this.values;
    this.ids = new Int32Array(capacity);
    this.values = new Array<V | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
    this.count = 0;
    for (let i = 0; i < oldValues.length; i++) {
      const v = oldValues[i];
      if (v !== undefined) this.set(v);
    }
    // The old arrays are garbage now; emptied, they cannot keep a stream alive even while they wait to be collected.
    oldValues.fill(undefined);
    oldIds.fill(0);
  }
}

function roundUpPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
