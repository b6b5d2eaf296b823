// SPDX-License-Identifier: Apache-2.0
// HPACK header block encoder (RFC 7541): one per HTTP/2 connection direction; policy for what gets indexed.

import { huffmanEncode, huffmanEncodedLength, type Latin1Buffer } from './huffman.js';
import { STATIC_BY_NAME, STATIC_TABLE_LENGTH } from './static-table.js';

const ENTRY_OVERHEAD = 32;
/** Our cap on the dynamic table we keep for the peer's decoder, in octets, whatever larger size it allows. */
const MAX_TABLE_SIZE = 4096;
/** Ring slots: at most 4096 / 32 = 128 live entries; a power of two so ids map to slots with a mask. */
const RING_SLOTS = 128;
const RING_MASK = RING_SLOTS - 1;

/**
 * Names whose values change per request: indexing them would only churn the dynamic table and evict useful
 * entries, so they are sent as literals without indexing (RFC 7541 §6.2.2).
 */
export const NO_INDEX: ReadonlySet<string> = new Set([
  'grpc-timeout',
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-request-id',
  'content-length',
  'date',
]);

/**
 * Everything the encoder knows about one name, found with a single Map lookup per field: its static indices, the
 * NO_INDEX flag, and its live dynamic entries (ids are insertion numbers, 1 = first entry ever inserted).
 */
interface NameEntry {
  /** Lowest static index with this name; 0 when the name is not in the static table. */
  readonly staticIndex: number;
  /** value -> static index of the exact (name, value) pair. */
  readonly staticValues: ReadonlyMap<string, number> | undefined;
  readonly noIndex: boolean;
  /** Id of the newest live dynamic entry with this name; 0 when none. */
  newest: number;
  /** value -> id of the newest live dynamic entry with this (name, value); created on first insertion. */
  values: Map<string, number> | undefined;
}

let scratch = Buffer.allocUnsafe(4096);

function ensureScratch(used: number, needed: number): Buffer {
  if (scratch.length - used < needed) {
    const bigger = Buffer.allocUnsafe(Math.max(scratch.length * 2, used + needed));
    scratch.copy(bigger, 0, 0, used);
    scratch = bigger;
  }
  return scratch;
}

/** §5.1 integer with an N-bit prefix; `first` carries the representation's pattern bits. Returns the new offset. */
function writeInt(dst: Buffer, offset: number, first: number, prefixBits: number, value: number): number {
  const max = (1 << prefixBits) - 1;
  let o = offset;
  if (value < max) {
    dst[o++] = first | value;
    return o;
  }
  dst[o++] = first | max;
  let v = value - max;
  while (v >= 0x80) {
    dst[o++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  dst[o++] = v;
  return o;
}

/** §5.2 string literal, Huffman-coded when that is strictly shorter. Returns the new offset. */
function writeString(dst: Buffer, offset: number, s: string): number {
  const huffLength = huffmanEncodedLength(s);
  if (huffLength < s.length) return huffmanEncode(s, dst, writeInt(dst, offset, 0x80, 7, huffLength));
  const o = writeInt(dst, offset, 0, 7, s.length);
  return o + (dst as unknown as Latin1Buffer).latin1Write(s, o, s.length);
}

/**
 * Encodes header lists for one peer's HPACK decoder, keeping our copy of its dynamic table in sync.
 * Not re-entrant: blocks must be sent in the order they were encoded, on the same connection.
 */
export class HpackEncoder {
  /** Dynamic table maximum size in octets currently in force at the peer (the initial 4096 of RFC 9113 §6.5.2). */
  private capacity = MAX_TABLE_SIZE;
  private size = 0;
  // Size updates to emit at the next block start (RFC 7541 §4.2): smallest value seen and final value.
  private pendingUpdate = false;
  private pendingMin = 0;
  private pendingFinal = 0;
  // Ring buffer of entries; entry with id k lives at slot (k - 1) & RING_MASK. Live ids: evicted+1 .. inserted.
  private readonly names: string[] = new Array<string>(RING_SLOTS).fill('');
  private readonly values: string[] = new Array<string>(RING_SLOTS).fill('');
  private inserted = 0;
  private evicted = 0;
  /** Static names and NO_INDEX names (kept for the encoder's life) plus names with live dynamic entries. */
  private readonly byName = new Map<string, NameEntry>();

  constructor() {
    for (const [name, st] of STATIC_BY_NAME) {
      this.byName.set(name, {
        staticIndex: st.nameIndex,
        staticValues: st.values,
        noIndex: NO_INDEX.has(name),
        newest: 0,
        values: undefined,
      });
    }
    for (const name of NO_INDEX) {
      if (!this.byName.has(name)) {
        this.byName.set(name, { staticIndex: 0, staticValues: undefined, noIndex: true, newest: 0, values: undefined });
      }
    }
  }

  /**
   * Applies the peer's SETTINGS_HEADER_TABLE_SIZE (octets, 0..2^32-1). We use min(n, 4096) and signal the change
   * with a dynamic table size update at the start of the next block (two updates if it went down then up).
   */
  setPeerMaxTableSize(n: number): void {
    const size = Math.min(n, MAX_TABLE_SIZE);
    if (!this.pendingUpdate) {
      if (size === this.capacity) return;
      this.pendingUpdate = true;
      this.pendingMin = size;
    } else if (size < this.pendingMin) {
      this.pendingMin = size;
    }
    this.pendingFinal = size;
  }

  /**
   * Encodes one header list given as flat pairs [name, value, ...] (names lower-case, values latin1 strings:
   * characters above U+00FF are truncated to their low octet, as Buffer's latin1 write does).
   * Policy: exact static/dynamic match -> indexed; else literal with incremental indexing, except names in
   * {@link NO_INDEX} and entries bigger than 1/4 of the table, which are literals without indexing. Names in
   * `neverIndexed` are always "never indexed" literals (§6.2.3), never looked up by value. A literal's name is
   * indexed when the name is in a table. Strings are Huffman-coded when that is shorter.
   * @returns a fresh Buffer of exact size holding the header block.
   * @throws Error when `headers` has an odd length (a caller bug; the table is left untouched).
   */
  encode(headers: readonly string[], neverIndexed?: ReadonlySet<string> | readonly string[]): Buffer {
    const n = headers.length;
    if ((n & 1) !== 0) throw new Error(`HpackEncoder.encode: odd header list length ${n} (pairs expected)`);
    let dst = ensureScratch(0, 16);
    let o = 0;
    if (this.pendingUpdate) o = this.emitSizeUpdates(dst, o);
    const neverSet = neverIndexed !== undefined && !Array.isArray(neverIndexed)
      ? (neverIndexed as ReadonlySet<string>)
      : undefined;
    const neverList = neverIndexed !== undefined && neverSet === undefined
      ? (neverIndexed as readonly string[])
      : undefined;
    for (let i = 0; i < n; i += 2) {
      const name = headers[i] as string;
      const value = headers[i + 1] as string;
      // Worst case: 3 integers of ≤ 6 octets plus both strings raw.
      dst = ensureScratch(o, name.length + value.length + 18);
      const sensitive = neverSet !== undefined
        ? neverSet.has(name)
        : neverList !== undefined && neverList.includes(name);
      const e = this.byName.get(name);
      let nameIndex = 0;
      let noIndex = false;
      if (e !== undefined) {
        if (!sensitive) {
          const staticIndex = e.staticValues?.get(value);
          if (staticIndex !== undefined) {
            o = writeInt(dst, o, 0x80, 7, staticIndex);
            continue;
          }
          const id = e.newest === 0 ? undefined : e.values?.get(value);
          if (id !== undefined) {
            o = writeInt(dst, o, 0x80, 7, this.indexOf(id));
            continue;
          }
        }
        nameIndex = e.staticIndex !== 0 ? e.staticIndex : e.newest !== 0 ? this.indexOf(e.newest) : 0;
        noIndex = e.noIndex;
      }
      const entrySize = name.length + value.length + ENTRY_OVERHEAD;
      let indexing = false;
      if (sensitive) {
        o = writeInt(dst, o, 0x10, 4, nameIndex);
      } else if (noIndex || entrySize * 4 > this.capacity) {
        o = writeInt(dst, o, 0x00, 4, nameIndex);
      } else {
        o = writeInt(dst, o, 0x40, 6, nameIndex);
        indexing = true;
      }
      if (nameIndex === 0) o = writeString(dst, o, name);
      o = writeString(dst, o, value);
      // Insert after writing: the name index above refers to the table before this insertion, whose evictions
      // may drop that very entry (RFC 7541 §4.4).
      if (indexing) this.insert(name, value, entrySize, e);
    }
    const block = Buffer.allocUnsafe(o);
    // Typical blocks are a few dozen octets, where a plain loop beats Buffer#copy's native call.
    if (o <= 64) for (let i = 0; i < o; i++) block[i] = dst[i] as number;
    else dst.copy(block, 0, 0, o);
    return block;
  }

  /** Current dynamic table size in octets (RFC 7541 §4.1), for tests and diagnostics. */
  get tableSize(): number {
    return this.size;
  }

  /** Current dynamic table maximum size in octets, for tests and diagnostics. */
  get tableCapacity(): number {
    return this.capacity;
  }

  private emitSizeUpdates(dst: Buffer, offset: number): number {
    let o = offset;
    if (this.pendingMin < this.pendingFinal) {
      o = writeInt(dst, o, 0x20, 5, this.pendingMin);
      this.evictTo(this.pendingMin);
    }
    o = writeInt(dst, o, 0x20, 5, this.pendingFinal);
    this.capacity = this.pendingFinal;
    this.evictTo(this.pendingFinal);
    this.pendingUpdate = false;
    return o;
  }

  /** HPACK index (62 = newest) of the live dynamic entry with `id`. */
  private indexOf(id: number): number {
    return STATIC_TABLE_LENGTH + this.inserted - id + 1;
  }

  /** Precondition: entrySize <= capacity / 4 (the policy never indexes bigger entries). */
  private insert(name: string, value: string, entrySize: number, known: NameEntry | undefined): void {
    this.evictTo(this.capacity - entrySize);
    const id = ++this.inserted;
    const slot = (id - 1) & RING_MASK;
    this.names[slot] = name;
    this.values[slot] = value;
    this.size += entrySize;
    // Eviction above may have dropped the entry we looked up, so look it up again when it was dynamic-only.
    let e = known !== undefined && (known.staticIndex !== 0 || known.noIndex) ? known : this.byName.get(name);
    if (e === undefined) {
      e = { staticIndex: 0, staticValues: undefined, noIndex: false, newest: id, values: new Map() };
      this.byName.set(name, e);
    } else {
      e.newest = id;
    }
    (e.values ??= new Map()).set(value, id);
  }

  private evictTo(maxSize: number): void {
    while (this.size > maxSize) {
      const id = ++this.evicted;
      const slot = (id - 1) & RING_MASK;
      const name = this.names[slot] as string;
      const value = this.values[slot] as string;
      this.size -= name.length + value.length + ENTRY_OVERHEAD;
      this.names[slot] = '';
      this.values[slot] = '';
      const e = this.byName.get(name) as NameEntry;
      const values = e.values as Map<string, number>;
      if (values.get(value) === id) values.delete(value);
      if (e.newest === id) {
        // No newer entry with this name, so its value map is empty too; keep static and NO_INDEX names.
        e.newest = 0;
        if (e.staticIndex === 0 && !e.noIndex) this.byName.delete(name);
      }
    }
  }
}
