// SPDX-License-Identifier: Apache-2.0
// HPACK Huffman code (RFC 7541 §5.2, Appendix B): table-driven decode by 4-bit nibbles, and encode.

import { HpackError } from './errors.js';

/**
 * Node's fast latin1 Buffer methods. They are undocumented but have been on Buffer.prototype since Node 0.x and
 * skip toString()'s encoding normalisation; callers check bounds first (they throw on out-of-range indices).
 */
export interface Latin1Buffer {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number, length?: number): number;
}

// RFC 7541 Appendix B, symbols 0..255 (EOS = 256 is 0x3fffffff, 30 bits, handled separately).
// prettier-ignore
const CODES: readonly number[] = [
  0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7,
  0xfffffe8, 0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec,
  0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3,
  0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb,
  0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa,
  0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
  0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
  0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc,
  0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62,
  0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
  0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72,
  0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22,
  0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26,
  0x27, 0x6, 0x74, 0x75, 0x28, 0x29, 0x2a, 0x7,
  0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78,
  0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd, 0xffffffc,
  0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9,
  0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf,
  0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3,
  0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef,
  0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde,
  0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec,
  0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef,
  0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1,
  0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec,
  0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed,
  0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2,
  0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5,
  0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3,
  0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
  0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea,
  0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
];

// prettier-ignore
const LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
];

const EOS = 256;
const EOS_CODE = 0x3fffffff;
const EOS_LENGTH = 30;

/** Code and bit length per symbol as typed arrays (index 256 = EOS), for the encoder's hot loop and for tests. */
export const HUFFMAN_CODES: Uint32Array = Uint32Array.from([...CODES, EOS_CODE]);
export const HUFFMAN_LENGTHS: Uint8Array = Uint8Array.from([...LENGTHS, EOS_LENGTH]);

// Decode table: for each of the 256 internal nodes of the code tree (the decoder state; 0 = root) and each 4-bit
// nibble, the state after walking those 4 bits, the symbol completed on the way (at most one: the shortest code
// is 5 bits), whether the result is a valid end (root, or up to 7 one-bits of padding: §5.2) and whether the
// walk hit EOS (§5.2: a decoder MUST treat an EOS in the string as an error).
const SYM_MASK = 0xff;
const STATE_SHIFT = 8;
const EMIT = 1 << 16;
const ACCEPT = 1 << 17;
const FAIL = 1 << 18;
const DECODE_TABLE: Int32Array = buildDecodeTable();

function buildDecodeTable(): Int32Array {
  // Tree as arrays: child[node * 2 + bit] >= 0 is an internal node id, < 0 is a leaf holding ~symbol.
  const child = new Int32Array(512 * 2).fill(0x7fffffff);
  const depth = new Uint8Array(512);
  const allOnes = new Uint8Array(512);
  allOnes[0] = 1;
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const code = HUFFMAN_CODES[sym] as number;
    const len = HUFFMAN_LENGTHS[sym] as number;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = (code >>> i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) {
        if (child[slot] !== 0x7fffffff) throw new Error(`huffman table: code of symbol ${sym} is not prefix-free`);
        child[slot] = ~sym;
      } else {
        let next = child[slot] as number;
        if (next === 0x7fffffff) {
          next = nodes++;
          child[slot] = next;
          depth[next] = (depth[node] as number) + 1;
          allOnes[next] = allOnes[node] === 1 && bit === 1 ? 1 : 0;
        } else if (next < 0) {
          throw new Error(`huffman table: code of symbol ${sym} is not prefix-free`);
        }
        node = next;
      }
    }
  }
  if (nodes !== 256) throw new Error(`huffman table: expected 256 internal nodes, got ${nodes}`);
  const table = new Int32Array(256 * 16);
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let i = 3; i >= 0; i--) {
        const next = child[node * 2 + ((nibble >>> i) & 1)] as number;
        if (next === 0x7fffffff) throw new Error('huffman table: incomplete code');
        if (next < 0) {
          const sym = ~next;
          if (sym === EOS) entry |= FAIL;
          else {
            if ((entry & EMIT) !== 0) throw new Error('huffman table: two symbols in one nibble');
            entry |= EMIT | sym;
          }
          node = 0;
        } else {
          node = next;
        }
      }
      if (node === 0 || (allOnes[node] === 1 && (depth[node] as number) <= 7)) entry |= ACCEPT;
      table[state * 16 + nibble] = entry | (node << STATE_SHIFT);
    }
  }
  return table;
}

let scratch = Buffer.allocUnsafe(1024);

/**
 * Decodes the Huffman-coded octets `src[start, end)` into a latin1 string. Decodes into a reused module-level
 * scratch Buffer and latin1-slices it (no per-byte string building). Not re-entrant across threads (none in Node).
 * @throws HpackError when the string contains EOS, or its padding is longer than 7 bits or not all ones
 *   (RFC 7541 §5.2). The offset in the message is into `src`.
 */
export function huffmanDecode(src: Buffer, start: number, end: number): string {
  // At most 8/5 symbols per octet (the shortest code is 5 bits).
  const maxOut = (((end - start) * 8) / 5) | 0;
  if (scratch.length < maxOut) scratch = Buffer.allocUnsafe(Math.max(maxOut, scratch.length * 2));
  const out = scratch;
  const table = DECODE_TABLE;
  let n = 0;
  let state = 0;
  let entry = ACCEPT;
  for (let i = start; i < end; i++) {
    const b = src[i] as number;
    entry = table[(state << 4) | (b >>> 4)] as number;
    if ((entry & EMIT) !== 0) out[n++] = entry & SYM_MASK;
    state = (entry >>> STATE_SHIFT) & 0xff;
    const e2 = table[(state << 4) | (b & 0xf)] as number;
    if (((entry | e2) & FAIL) !== 0) throw new HpackError('Huffman-coded string contains EOS', i);
    entry = e2;
    if ((entry & EMIT) !== 0) out[n++] = entry & SYM_MASK;
    state = (entry >>> STATE_SHIFT) & 0xff;
  }
  if ((entry & ACCEPT) === 0) {
    throw new HpackError('Huffman-coded string has invalid padding (longer than 7 bits or not all ones)', end - 1);
  }
  return (out as unknown as Latin1Buffer).latin1Slice(0, n);
}

/**
 * The number of octets `s` takes Huffman-coded (padding included). Characters are taken as latin1 octets
 * (`charCodeAt(i) & 0xff`, like Buffer's latin1 write).
 */
export function huffmanEncodedLength(s: string): number {
  const lengths = HUFFMAN_LENGTHS;
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += lengths[s.charCodeAt(i) & 0xff] as number;
  return (bits + 7) >>> 3;
}

/**
 * Writes `s` Huffman-coded into `dst` at `offset`, padded with one-bits to an octet boundary, and returns the new
 * offset. Precondition: `dst` has `huffmanEncodedLength(s)` octets free at `offset` (not checked).
 */
export function huffmanEncode(s: string, dst: Buffer, offset: number): number {
  const codes = HUFFMAN_CODES;
  const lengths = HUFFMAN_LENGTHS;
  let o = offset;
  let acc = 0; // holds fewer than 8 pending bits between symbols
  let nbits = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    let code = codes[sym] as number;
    let len = lengths[sym] as number;
    if (len > 24) {
      // Keep acc within 31 bits: push the high part first (rare: control and high-latin1 octets only).
      const hiLen = len - 16;
      acc = (acc << hiLen) | (code >>> 16);
      nbits += hiLen;
      while (nbits >= 8) {
        nbits -= 8;
        dst[o++] = acc >>> nbits;
      }
      acc &= (1 << nbits) - 1;
      code &= 0xffff;
      len = 16;
    }
    acc = (acc << len) | code;
    nbits += len;
    while (nbits >= 8) {
      nbits -= 8;
      dst[o++] = acc >>> nbits;
    }
    acc &= (1 << nbits) - 1;
  }
  if (nbits > 0) dst[o++] = (acc << (8 - nbits)) | (0xff >>> nbits);
  return o;
}
