// SPDX-License-Identifier: Apache-2.0
// HPACK decoder: every RFC 7541 Appendix C example (fields, dynamic table contents and size after each block),
// and each malformed input rejected with an HpackError that names the problem.

import { describe, expect, it } from 'vitest';
import { HpackDecoder } from '../../../../src/h2/hpack/decoder.js';
import { HpackError } from '../../../../src/h2/hpack/errors.js';

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

function decode(d: HpackDecoder, block: Buffer): string[] {
  // Embed the block in a larger buffer so start/end offsets are exercised.
  const padded = Buffer.concat([Buffer.from([0xff, 0xff, 0xff]), block, Buffer.from([0xff])]);
  const out: string[] = [];
  d.decode(padded, 3, 3 + block.length, out);
  return out;
}

function decodeError(d: HpackDecoder, block: Buffer): HpackError {
  try {
    d.decode(block, 0, block.length, []);
  } catch (err) {
    expect(err).toBeInstanceOf(HpackError);
    return err as HpackError;
  }
  throw new Error('expected an HpackError');
}

interface Step {
  block: string;
  fields: string[];
  table: Array<[string, string]>;
  size: number;
}

const REQUEST_FIELDS = [
  [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com'],
  [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com', 'cache-control', 'no-cache'],
  [':method', 'GET', ':scheme', 'https', ':path', '/index.html', ':authority', 'www.example.com',
    'custom-key', 'custom-value'],
];
const REQUEST_TABLES: Array<Array<[string, string]>> = [
  [[':authority', 'www.example.com']],
  [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
];
const REQUEST_SIZES = [57, 110, 164];

const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOCATION = 'https://www.example.com';
const RESPONSE_FIELDS = [
  [':status', '302', 'cache-control', 'private', 'date', DATE1, 'location', LOCATION],
  [':status', '307', 'cache-control', 'private', 'date', DATE1, 'location', LOCATION],
  [':status', '200', 'cache-control', 'private', 'date', DATE2, 'location', LOCATION, 'content-encoding', 'gzip',
    'set-cookie', COOKIE],
];
const RESPONSE_TABLES: Array<Array<[string, string]>> = [
  [['location', LOCATION], ['date', DATE1], ['cache-control', 'private'], [':status', '302']],
  [[':status', '307'], ['location', LOCATION], ['date', DATE1], ['cache-control', 'private']],
  [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE2]],
];
const RESPONSE_SIZES = [222, 222, 215];

function steps(blocks: string[], fields: string[][], tables: Array<Array<[string, string]>>, sizes: number[]): Step[] {
  return blocks.map((block, i) => ({
    block,
    fields: fields[i] as string[],
    table: tables[i] as Array<[string, string]>,
    size: sizes[i] as number,
  }));
}

const SEQUENCES: Array<[string, number, Step[]]> = [
  ['C.3 requests without Huffman', 4096, steps([
    '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '8286 84be 5808 6e6f 2d63 6163 6865',
    '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
  ], REQUEST_FIELDS, REQUEST_TABLES, REQUEST_SIZES)],
  ['C.4 requests with Huffman', 4096, steps([
    '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
    '8286 84be 5886 a8eb 1064 9cbf',
    '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
  ], REQUEST_FIELDS, REQUEST_TABLES, REQUEST_SIZES)],
  ['C.5 responses without Huffman (table size 256, evictions)', 256, steps([
    `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
     2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
    '4803 3330 37c1 c0bf',
    `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
     54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
     5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
  ], RESPONSE_FIELDS, RESPONSE_TABLES, RESPONSE_SIZES)],
  ['C.6 responses with Huffman (table size 256, evictions)', 256, steps([
    `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
     2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
    '4883 640e ffc1 c0bf',
    `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
     77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
     9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
  ], RESPONSE_FIELDS, RESPONSE_TABLES, RESPONSE_SIZES)],
];

describe('HpackDecoder: RFC 7541 Appendix C', () => {
  it('C.2.1 literal with indexing adds the field to the dynamic table', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'))).toEqual([
      'custom-key', 'custom-header',
    ]);
    expect(d.dynamicTable()).toEqual([['custom-key', 'custom-header']]);
    expect(d.tableSize).toBe(55);
  });

  it('C.2.2 literal without indexing leaves the table empty', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('040c 2f73 616d 706c 652f 7061 7468'))).toEqual([':path', '/sample/path']);
    expect(d.dynamicTable()).toEqual([]);
    expect(d.tableSize).toBe(0);
  });

  it('C.2.3 never-indexed literal leaves the table empty', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('1008 7061 7373 776f 7264 0673 6563 7265 74'))).toEqual(['password', 'secret']);
    expect(d.dynamicTable()).toEqual([]);
  });

  it('C.2.4 indexed field from the static table', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('82'))).toEqual([':method', 'GET']);
    expect(d.tableSize).toBe(0);
  });

  describe.each(SEQUENCES)('%s', (_name, tableSize, seq) => {
    it('decodes each block to the RFC fields and leaves the RFC table contents and size', () => {
      const d = new HpackDecoder(tableSize);
      for (const step of seq) {
        expect(decode(d, hex(step.block))).toEqual(step.fields);
        expect(d.dynamicTable()).toEqual(step.table);
        expect(d.tableSize).toBe(step.size);
      }
    });
  });
});

describe('HpackDecoder: integers and size updates', () => {
  it('decodes multi-octet integers (C.1.2: 1337 with a 5-bit prefix) in a size update', () => {
    const d = new HpackDecoder(4096);
    decode(d, hex('3f9a0a')); // 0x20 | 31, then 1337 - 31 = 1306 as 0x9a 0x0a
    expect(d.tableCapacity).toBe(1337);
  });

  it('accepts two size updates at the block start and evicts down to each', () => {
    const d = new HpackDecoder();
    decode(d, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    expect(d.tableSize).toBe(55);
    // Update to 0 (evicts everything), then to 4096 (0x3f 0xe1 0x1f), then :method GET.
    expect(decode(d, hex('20 3fe11f 82'))).toEqual([':method', 'GET']);
    expect(d.tableSize).toBe(0);
    expect(d.tableCapacity).toBe(4096);
    expect(decodeError(d, hex('be')).message).toMatch(/index 62 out of range/);
  });

  it('empties the table when a single entry is larger than the table (RFC 7541 §4.4)', () => {
    const d = new HpackDecoder(64);
    decode(d, hex('4003 6162 6303 7879 7a')); // abc: xyz, 38 octets
    expect(d.tableSize).toBe(38);
    const big = Buffer.concat([hex('4003 646566 20'), Buffer.alloc(32, 0x41)]); // def: 32 x 'A', 67 octets
    expect(decode(d, big)).toEqual(['def', 'A'.repeat(32)]);
    expect(d.dynamicTable()).toEqual([]);
    expect(d.tableSize).toBe(0);
  });

  it('grows its entry ring past the initial slots when the table allows many small entries', () => {
    const d = new HpackDecoder(65536);
    decode(d, hex('3fe1ff03')); // size update to 65536
    const parts: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const v = String(i);
      parts.push(Buffer.from([0x40, 1, 0x6b, v.length]), Buffer.from(v, 'latin1'));
    }
    decode(d, Buffer.concat(parts));
    expect(d.dynamicTable()).toHaveLength(300);
    expect(d.dynamicTable()[0]).toEqual(['k', '299']);
    expect(d.dynamicTable()[299]).toEqual(['k', '0']);
    // Index 361 (the oldest) = 127 + 234: 0xff, then 234 as 0xea 0x01.
    expect(decode(d, hex('ff ea 01'))).toEqual(['k', '0']);
    expect(decode(d, hex('be'))).toEqual(['k', '299']);
  });
});

describe('HpackDecoder: malformed input', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['indexed field with index 0', '80', /index 0 at byte 0/],
    ['static index beyond the empty dynamic table', '82 be', /index 62 out of range \(61 entries\) at byte 1/],
    ['literal name index beyond the table', '7f 00 01 61', /index 63 out of range \(61 entries\) at byte 0/],
    ['integer overflow', 'ff ff ff ff ff 0f', /integer overflow at byte 5/],
    ['integer with too many continuation octets', 'ff 80 80 80 80 80 80 00', /too many continuation octets/],
    ['integer truncated at the block end', 'ff 80', /truncated integer at byte 2/],
    ['string literal length beyond the block end', '40 05 61 62', /truncated string literal: 5 octets announced, 2 left at byte 1/],
    ['missing value string after a literal name', '40 01 61', /string literal expected at byte 3/],
    ['size update above our SETTINGS_HEADER_TABLE_SIZE', '3fe21f', /size update to 4097 above the limit 4096 at byte 0/],
    ['size update after a header field', '82 20', /size update after a header field at byte 1/],
    ['Huffman string with EOS', '40 01 61 84 ffffffff', /contains EOS at byte/],
    ['Huffman string with bad padding', '40 01 61 81 18', /invalid padding/],
  ];
  it.each(cases)('rejects %s', (_name, block, message) => {
    const err = decodeError(new HpackDecoder(), hex(block));
    expect(err.message).toMatch(message);
    expect(err.tooLarge).toBe(false);
  });

  it('rejects a size update above a lowered limit', () => {
    expect(decodeError(new HpackDecoder(100), hex('3f 46')).message).toMatch(/size update to 101 above the limit 100/);
  });
});

describe('HpackDecoder: maxHeaderListSize', () => {
  it('decodes the whole block before throwing tooLarge, so the dynamic table stays in sync', () => {
    const d = new HpackDecoder(4096, 100);
    // 'a': 60 x 'x' (93 octets counted) fits; 'b': 'y' (34) overflows; then 'c': 'z' is still inserted.
    const block = Buffer.concat([
      hex('4001 61 3c'), Buffer.alloc(60, 0x78),
      hex('4001 62 0179'),
      hex('4001 63 017a'),
    ]);
    const out: string[] = [];
    let err: unknown;
    try {
      d.decode(block, 0, block.length, out);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HpackError);
    expect((err as HpackError).tooLarge).toBe(true);
    expect((err as HpackError).message).toMatch(/header list of 161 octets exceeds the limit of 100/);
    expect(out).toEqual(['a', 'x'.repeat(60)]);
    expect(d.dynamicTable().map(([n]) => n)).toEqual(['c', 'b', 'a']);
    expect(decode(d, hex('be'))).toEqual(['c', 'z']);
  });

  it('counts each field as name + value + 32 octets (RFC 9113 §6.5.2)', () => {
    const d = new HpackDecoder(4096, 32 + 1 + 3);
    expect(decode(d, hex('0001 61 03 616263'))).toEqual(['a', 'abc']);
    const err = decodeError(d, hex('0001 61 04 61626364'));
    expect(err.tooLarge).toBe(true);
  });
});
