// SPDX-License-Identifier: Apache-2.0
// Huffman code (RFC 7541 §5.2, Appendix B): the table is a valid canonical code, the Appendix C strings encode and
// decode byte-exact, and EOS / bad padding are rejected.

import { describe, expect, it } from 'vitest';
import { seededRandom as mulberry32 } from '../../../helpers/prng.js';
import { HpackError } from '../../../../src/h2/hpack/errors.js';
import {
  HUFFMAN_CODES,
  HUFFMAN_LENGTHS,
  huffmanDecode,
  huffmanEncode,
  huffmanEncodedLength,
} from '../../../../src/h2/hpack/huffman.js';

/** RFC 7541 Appendix C.4 and C.6 Huffman-coded strings. */
const APPENDIX_C: Array<[string, string]> = [
  ['www.example.com', 'f1e3c2e5f23a6ba0ab90f4ff'],
  ['no-cache', 'a8eb10649cbf'],
  ['custom-key', '25a849e95ba97d7f'],
  ['custom-value', '25a849e95bb8e8b4bf'],
  ['302', '6402'],
  ['307', '640eff'],
  ['private', 'aec3771a4b'],
  ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07abe941054d444a8200595040b8166e082a62d1bff'],
  ['Mon, 21 Oct 2013 20:13:22 GMT', 'd07abe941054d444a8200595040b8166e084a62d1bff'],
  ['https://www.example.com', '9d29ad171863c78f0b97c8e9ae82ae43d3'],
  ['gzip', '9bd9ab'],
  [
    'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1',
    '94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
  ],
];

function encode(s: string): Buffer {
  const dst = Buffer.alloc(huffmanEncodedLength(s) + 4, 0xaa);
  const end = huffmanEncode(s, dst, 2);
  expect(end - 2).toBe(huffmanEncodedLength(s));
  return dst.subarray(2, end);
}

describe('Huffman table', () => {
  it('is a complete canonical prefix code (Kraft sum 1, codes ordered by length then symbol)', () => {
    const syms = Array.from({ length: 257 }, (_, i) => i);
    syms.sort((a, b) => (HUFFMAN_LENGTHS[a] as number) - (HUFFMAN_LENGTHS[b] as number) || a - b);
    let kraft = 0;
    let expected = 0;
    let prevLen = HUFFMAN_LENGTHS[syms[0] as number] as number;
    for (const s of syms) {
      const len = HUFFMAN_LENGTHS[s] as number;
      expected *= 2 ** (len - prevLen);
      expect([s, HUFFMAN_CODES[s]]).toEqual([s, expected]);
      expected++;
      prevLen = len;
      kraft += 2 ** -len;
    }
    expect(kraft).toBe(1);
    expect([HUFFMAN_CODES[256], HUFFMAN_LENGTHS[256]]).toEqual([0x3fffffff, 30]);
  });
});

describe('huffmanEncode / huffmanDecode', () => {
  it.each(APPENDIX_C)('encodes and decodes %j byte-exact as in RFC 7541 Appendix C', (text, hex) => {
    expect(encode(text).toString('hex')).toBe(hex);
    const src = Buffer.concat([Buffer.from([1, 2]), Buffer.from(hex, 'hex'), Buffer.from([3])]);
    expect(huffmanDecode(src, 2, src.length - 1)).toBe(text);
  });

  it('round-trips every octet value 0..255, including codes longer than 24 bits', () => {
    let all = '';
    for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
    const enc = encode(all);
    expect(huffmanDecode(enc, 0, enc.length)).toBe(all);
    const rev = all.split('').reverse().join('');
    const enc2 = encode(rev);
    expect(huffmanDecode(enc2, 0, enc2.length)).toBe(rev);
  });

  it('round-trips 2000 random latin1 strings (seeded)', () => {
    const rnd = mulberry32(7541);
    for (let n = 0; n < 2000; n++) {
      const len = Math.floor(rnd() * 80);
      let s = '';
      for (let i = 0; i < len; i++) s += String.fromCharCode(rnd() < 0.8 ? 32 + Math.floor(rnd() * 95) : Math.floor(rnd() * 256));
      const enc = encode(s);
      expect(huffmanDecode(enc, 0, enc.length)).toBe(s);
    }
  });

  it('decodes an empty range to the empty string and encodes the empty string to zero octets', () => {
    expect(huffmanDecode(Buffer.alloc(0), 0, 0)).toBe('');
    expect(huffmanEncodedLength('')).toBe(0);
    expect(encode('')).toHaveLength(0);
  });

  it('decodes a long string that outgrows the scratch buffer', () => {
    const s = 'abcdefghij'.repeat(2000);
    const enc = encode(s);
    expect(huffmanDecode(enc, 0, enc.length)).toBe(s);
  });

  it('rejects a string containing EOS', () => {
    // 32 one-bits: the 30-bit EOS code followed by two bits.
    expect(() => huffmanDecode(Buffer.from('ffffffff', 'hex'), 0, 4)).toThrow(/contains EOS at byte/);
    // 'a' (00011) then EOS, then padding.
    const bad = Buffer.from([0b00011111, 0xff, 0xff, 0xff, 0xff]);
    expect(() => huffmanDecode(bad, 0, bad.length)).toThrow(HpackError);
  });

  it('rejects padding longer than 7 bits', () => {
    // 'a' = 00011, then 3 + 8 = 11 one-bits of padding.
    const bad = Buffer.from([0b00011111, 0xff]);
    expect(() => huffmanDecode(bad, 0, 2)).toThrow(/invalid padding.*at byte 1/);
    // A whole octet of ones alone is 8 bits of padding.
    expect(() => huffmanDecode(Buffer.from([0xff]), 0, 1)).toThrow(/invalid padding/);
  });

  it('rejects padding that is not all ones', () => {
    // 'a' = 00011 then 000.
    expect(() => huffmanDecode(Buffer.from([0b00011000]), 0, 1)).toThrow(/invalid padding/);
    // 'a' = 00011 then 110.
    expect(() => huffmanDecode(Buffer.from([0b00011110]), 0, 1)).toThrow(/invalid padding/);
    expect(huffmanDecode(Buffer.from([0b00011111]), 0, 1)).toBe('a');
  });

  it('takes characters above U+00FF as their low octet, like a latin1 Buffer write', () => {
    expect(huffmanEncodedLength('\u0161')).toBe(huffmanEncodedLength('\u0061'));
    const enc = encode('\u0161');
    expect(huffmanDecode(enc, 0, enc.length)).toBe('a');
  });
});
