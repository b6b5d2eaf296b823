// SPDX-License-Identifier: Apache-2.0
// HPACK header block decoder (RFC 7541 §3-§6): one per HTTP/2 connection direction, fed whole header blocks.

import { HpackError } from './errors.js';
import { huffmanDecode, type Latin1Buffer } from './huffman.js';
import { STATIC_NAMES, STATIC_TABLE_LENGTH, STATIC_VALUES } from './static-table.js';

/** RFC 7541 §4.1: each table entry costs its name and value octets plus 32. RFC 9113 §6.5.2 sizes lists the same. */
const ENTRY_OVERHEAD = 32;
/** Largest integer we accept (RFC 7541 §5.1 leaves the limit to implementations; any real value is far below). */
const MAX_INT = 0x7fffffff;
/** Initial ring slots (a power of two): the 4096-octet default table holds at most 128 entries. */
const INITIAL_SLOTS = 64;

/**
 * Decodes the header blocks of one peer's HPACK encoder, keeping its dynamic table (RFC 7541 §2.3.2) in sync.
 * Not re-entrant: one decode at a time, blocks in the order they arrived on the connection.
 */
export class HpackDecoder {
  private readonly maxTableSize: number;
  private readonly maxHeaderListSize: number;
  /** The dynamic table's current maximum size in octets (the last size update, initially `maxTableSize`). */
  private capacity: number;
  private size = 0;
  // Ring buffer of entries: the newest is at (head - 1) & mask, HPACK dynamic index i at (head - i) & mask.
  // Grows by doubling up to what the table size allows, so a large maxTableSize costs nothing until used.
  private names: string[];
  private values: string[];
  private mask: number;
  private head = 0;
  private count = 0;
  /** Read position while decoding (a field, not a return value, so integer reads allocate nothing). */
  private pos = 0;
  /**
   * The name of the first field of the last block whose value RFC 9113 §8.2.1 forbids (NUL, CR, LF, or whitespace
   * at either end), else undefined. Values are checked once, as literals arrive: a value taken from the tables was
   * checked when it entered them, unless a forbidden one ever entered the dynamic table (`checkIndexed`).
   */
  badValueName: string | undefined;
  /** A forbidden value entered the dynamic table once: values taken from it are checked too from then on. */
  private checkIndexed = false;

  /**
   * @param maxTableSize our SETTINGS_HEADER_TABLE_SIZE, in octets: the largest dynamic table size update the peer
   *   may send, and the table's initial size. Default 4096 (the RFC 9113 default); range 0..2^31-1 (entries cost
   *   ≥ 32 octets, so memory is bounded by this).
   * @param maxHeaderListSize the largest decoded header list accepted, in octets counted as name + value + 32 per
   *   field (RFC 9113 §6.5.2). Default 65536; range 1..2^31-1.
   */
  constructor(maxTableSize = 4096, maxHeaderListSize = 65536) {
    this.maxTableSize = maxTableSize;
    this.maxHeaderListSize = maxHeaderListSize;
    this.capacity = maxTableSize;
    this.mask = INITIAL_SLOTS - 1;
    this.names = new Array<string>(INITIAL_SLOTS).fill('');
    this.values = new Array<string>(INITIAL_SLOTS).fill('');
  }

  /**
   * Decodes one complete header block `block[start, end)` (HEADERS + CONTINUATION payloads already joined) and
   * appends name, value, name, value, ... to `out`. Names come as sent (lower-case for valid HTTP/2; the
   * connection validates them), values as latin1 strings.
   * @throws HpackError on malformed input: index 0 or out of range, integer overflow, truncated integer or string,
   *   size update above `maxTableSize` or after the first field, bad Huffman. The dynamic table is then unusable
   *   and the connection must fail with COMPRESSION_ERROR.
   * @throws HpackError with `tooLarge = true` when the list exceeds `maxHeaderListSize`; the whole block was still
   *   decoded, so the table stays in sync. `out` then holds only the fields that fit.
   * @param neverIndexed when given, receives the name of each field sent as "never indexed" (§6.2.3), so a proxy
   *   can forward it the same way (§7.1.3).
   */
  decode(block: Buffer, start: number, end: number, out: string[], neverIndexed?: string[]): void {
    const limit = this.maxHeaderListSize;
    let listSize = 0;
    let tooLarge = false;
    let fieldSeen = false;
    this.pos = start;
    this.badValueName = undefined;
    while (this.pos < end) {
      const at = this.pos;
      const b = block[at] as number;
      let name: string;
      let value: string;
      if ((b & 0x80) !== 0) {
        // §6.1 Indexed Header Field.
        const index = this.readInt(block, end, 7);
        if (index === 0) throw new HpackError('indexed header field with index 0', at);
        if (index <= STATIC_TABLE_LENGTH) {
          name = STATIC_NAMES[index] as string;
          value = STATIC_VALUES[index] as string;
        } else {
          const slot = this.dynamicSlot(index, at);
          name = this.names[slot] as string;
          value = this.values[slot] as string;
          if (this.checkIndexed) this.checkValue(name, value);
        }
      } else if ((b & 0x40) !== 0) {
        // §6.2.1 Literal Header Field with Incremental Indexing.
        const index = this.readInt(block, end, 6);
        name = index === 0 ? this.readString(block, end) : this.nameAt(index, at);
        value = this.readString(block, end);
        if (this.checkValue(name, value)) this.checkIndexed = true;
        this.insert(name, value);
      } else if ((b & 0x20) !== 0) {
        // §6.3 Dynamic Table Size Update: only at the start of a block (§4.2), never above our setting.
        if (fieldSeen) throw new HpackError('dynamic table size update after a header field', at);
        const size = this.readInt(block, end, 5);
        if (size > this.maxTableSize) {
          throw new HpackError(`dynamic table size update to ${size} above the limit ${this.maxTableSize}`, at);
        }
        this.capacity = size;
        this.evictTo(size);
        continue;
      } else {
        // §6.2.2 without indexing (0000xxxx) and §6.2.3 never indexed (0001xxxx): same layout, table untouched.
        const index = this.readInt(block, end, 4);
        name = index === 0 ? this.readString(block, end) : this.nameAt(index, at);
        value = this.readString(block, end);
        this.checkValue(name, value);
        // An intermediary must forward a never-indexed field as never-indexed (§7.1.3): report its name.
        if ((b & 0x10) !== 0 && neverIndexed !== undefined) neverIndexed.push(name);
      }
      fieldSeen = true;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > limit) tooLarge = true;
      else out.push(name, value);
    }
    if (tooLarge) {
      throw new HpackError(`header list of ${listSize} octets exceeds the limit of ${limit}`, -1, true);
    }
  }

  /** Records `name` in badValueName when `value` is one §8.2.1 forbids; true when it is. */
  private checkValue(name: string, value: string): boolean {
    if (value.length === 0 || !forbiddenValue(value)) return false;
    this.badValueName ??= name;
    return true;
  }

  /** Current dynamic table size in octets (RFC 7541 §4.1), for tests and diagnostics. */
  get tableSize(): number {
    return this.size;
  }

  /** Current dynamic table maximum size in octets (the last size update), for tests and diagnostics. */
  get tableCapacity(): number {
    return this.capacity;
  }

  /** A copy of the dynamic table as [name, value] pairs, newest first (HPACK index 62 first). Not for hot paths. */
  dynamicTable(): Array<[string, string]> {
    const rows: Array<[string, string]> = [];
    for (let i = 1; i <= this.count; i++) {
      const slot = (this.head - i) & this.mask;
      rows.push([this.names[slot] as string, this.values[slot] as string]);
    }
    return rows;
  }

  /** §5.1 integer with an N-bit prefix starting at this.pos; advances this.pos. */
  private readInt(block: Buffer, end: number, prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let p = this.pos;
    let value = (block[p++] as number) & max;
    if (value === max) {
      let shift = 0;
      for (;;) {
        if (p >= end) throw new HpackError('truncated integer', p);
        const b = block[p++] as number;
        value += (b & 0x7f) * 2 ** shift;
        if (value > MAX_INT) throw new HpackError('integer overflow', p - 1);
        if ((b & 0x80) === 0) break;
        shift += 7;
        if (shift > 28) throw new HpackError('integer overflow (too many continuation octets)', p);
      }
    }
    this.pos = p;
    return value;
  }

  /** §5.2 string literal at this.pos; advances this.pos. */
  private readString(block: Buffer, end: number): string {
    const at = this.pos;
    if (at >= end) throw new HpackError('truncated header block: string literal expected', at);
    const huffman = ((block[at] as number) & 0x80) !== 0;
    const length = this.readInt(block, end, 7);
    const from = this.pos;
    if (length > end - from) {
      throw new HpackError(`truncated string literal: ${length} octets announced, ${end - from} left`, at);
    }
    this.pos = from + length;
    return huffman
      ? huffmanDecode(block, from, from + length)
      : (block as unknown as Latin1Buffer).latin1Slice(from, from + length);
  }

  private nameAt(index: number, at: number): string {
    if (index <= STATIC_TABLE_LENGTH) return STATIC_NAMES[index] as string;
    return this.names[this.dynamicSlot(index, at)] as string;
  }

  private dynamicSlot(index: number, at: number): number {
    const i = index - STATIC_TABLE_LENGTH;
    if (i > this.count) {
      throw new HpackError(`index ${index} out of range (${STATIC_TABLE_LENGTH + this.count} entries)`, at);
    }
    return (this.head - i) & this.mask;
  }

  /** §4.4: evict from the oldest end until the entry fits; an entry larger than the table just empties it. */
  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.capacity) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.capacity - entrySize);
    if (this.count > this.mask) this.grow();
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.head = (this.head + 1) & this.mask;
    this.count++;
    this.size += entrySize;
  }

  private grow(): void {
    const slots = (this.mask + 1) * 2;
    const names = new Array<string>(slots).fill('');
    const values = new Array<string>(slots).fill('');
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head - this.count + i) & this.mask;
      names[i] = this.names[slot] as string;
      values[i] = this.values[slot] as string;
    }
    this.names = names;
    this.values = values;
    this.mask = slots - 1;
    this.head = this.count;
  }

  private evictTo(maxSize: number): void {
    while (this.size > maxSize) {
      const slot = (this.head - this.count) & this.mask;
      this.size -= (this.names[slot] as string).length + (this.values[slot] as string).length + ENTRY_OVERHEAD;
      this.names[slot] = '';
      this.values[slot] = '';
      this.count--;
    }
  }
}

/** NUL, CR or LF anywhere in a field value (RFC 9113 §8.2.1). */
const NUL_CR_LF = /[\0\r\n]/;

/** A non-empty field value RFC 9113 §8.2.1 forbids: NUL, CR or LF in it, or a space or tab at either end. */
function forbiddenValue(value: string): boolean {
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(value.length - 1);
  return first === 32 || first === 9 || last === 32 || last === 9 || NUL_CR_LF.test(value);
}
