// SPDX-License-Identifier: Apache-2.0
// HPACK encoder: RFC 7541 C.4 byte-exact, the indexing policy (NO_INDEX, never-indexed, large entries), table size
// updates, and encoder -> decoder round trips that keep both dynamic tables in sync.

import { describe, expect, it } from 'vitest';
import { seededRandom as mulberry32 } from '../../../helpers/prng.js';
import { HpackDecoder } from '../../../../src/h2/hpack/decoder.js';
import { HpackEncoder, NO_INDEX } from '../../../../src/h2/hpack/encoder.js';

function roundTrip(enc: HpackEncoder, dec: HpackDecoder, headers: string[], never?: ReadonlySet<string> | string[]): Buffer {
  const block = enc.encode(headers, never);
  const out: string[] = [];
  dec.decode(block, 0, block.length, out);
  expect(out).toEqual(headers);
  expect(dec.tableSize).toBe(enc.tableSize);
  return block;
}

const GRPC_REQUEST = [
  ':method', 'POST', ':scheme', 'http', ':path', '/user.v1.UserService/GetUser', ':authority', 'user-service',
  'content-type', 'application/grpc', 'te', 'trailers', 'grpc-timeout', '999m', 'user-agent', 'grpc-node-js/1.14.7',
];

describe('HpackEncoder', () => {
  it('produces the RFC 7541 C.4 request blocks byte for byte', () => {
    const enc = new HpackEncoder();
    const blocks = [
      [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com'],
      [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com', 'cache-control', 'no-cache'],
      [':method', 'GET', ':scheme', 'https', ':path', '/index.html', ':authority', 'www.example.com',
        'custom-key', 'custom-value'],
    ].map((h) => enc.encode(h).toString('hex'));
    expect(blocks).toEqual([
      '828684418cf1e3c2e5f23a6ba0ab90f4ff',
      '828684be5886a8eb10649cbf',
      '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf',
    ]);
    expect(enc.tableSize).toBe(164);
  });

  it('indexes a repeated gRPC request down to one octet per field except the per-call grpc-timeout', () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder();
    const first = roundTrip(enc, dec, GRPC_REQUEST);
    const second = roundTrip(enc, dec, GRPC_REQUEST);
    expect(second.length).toBeLessThan(first.length);
    // 7 indexed fields (1 octet each), then grpc-timeout as a literal without indexing with a literal name:
    // 0x00, name length, 'grpc-timeout' Huffman-coded (9 octets), value length, '999m' (3 octets Huffman-coded).
    expect(second.indexOf(0x00)).toBe(6);
    expect(second.length).toBe(7 + 1 + 1 + 9 + 1 + 3);
    expect(dec.dynamicTable().map(([n]) => n)).not.toContain('grpc-timeout');
  });

  it('sends every NO_INDEX name as a literal without indexing and never adds it to the table', () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder();
    for (const name of NO_INDEX) {
      const block = roundTrip(enc, dec, [name, 'v1']);
      expect((block[0] as number) & 0xf0).toBe(0x00);
    }
    expect(enc.tableSize).toBe(0);
    // content-length and date are static names: indexed name (4-bit prefix index 28 / 33 -> 0x0f + rest).
    expect(enc.encode(['content-length', '12']).subarray(0, 2).toString('hex')).toBe('0f0d');
  });

  it('sends never-indexed names as §6.2.3 literals, never by value index, from a Set or an array', () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder();
    roundTrip(enc, dec, ['authorization', 'Bearer abc']); // indexed on first sight
    expect(dec.dynamicTable()).toEqual([['authorization', 'Bearer abc']]);
    for (const never of [new Set(['authorization']), ['authorization']]) {
      const block = roundTrip(enc, dec, ['authorization', 'Bearer abc', 'x-secret', 's'], never);
      // Never indexed with the static name index 23 (lower than the dynamic 62): 0x10 | 15, then 23 - 15.
      expect(block.subarray(0, 2).toString('hex')).toBe('1f08');
    }
    const block = roundTrip(enc, dec, ['x-password', 'hunter2'], ['x-password']);
    expect(block[0]).toBe(0x10); // never indexed, literal name
    expect(dec.dynamicTable().map(([n]) => n)).not.toContain('x-password');
    expect(dec.dynamicTable()).toHaveLength(2); // authorization and x-secret (sent once without the never list)
  });

  it('does not index entries bigger than a quarter of the table but still indexes their name', () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder();
    const big = 'v'.repeat(1024 - 32 - 'user-agent'.length + 1); // entry size 1025 > 4096 / 4
    const block = roundTrip(enc, dec, ['user-agent', big]);
    expect(block[0]).toBe(0x0f); // without indexing, name index 58 = 15 + 43
    expect(block[1]).toBe(43);
    expect(enc.tableSize).toBe(0);
    roundTrip(enc, dec, ['user-agent', big.slice(1)]); // exactly 1024: indexed
    expect(enc.tableSize).toBe(1024);
  });

  it('evicts the oldest entries and stays in sync with the decoder', () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder();
    for (let i = 0; i < 200; i++) roundTrip(enc, dec, [`x-h${i % 50}`, `value-${i}`.padEnd(100, '.')]);
    expect(enc.tableSize).toBeLessThanOrEqual(4096);
    expect(dec.dynamicTable()[0]).toEqual(['x-h49', 'value-199'.padEnd(100, '.')]);
    // The newest entries are referenced by index now.
    const again = roundTrip(enc, dec, ['x-h49', 'value-199'.padEnd(100, '.')]);
    expect(again.toString('hex')).toBe('be');
  });

  it('signals a lowered table size, empties the table at 0, then signals the raise', () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder();
    roundTrip(enc, dec, ['x-a', '1', 'x-b', '2']);
    expect(enc.tableSize).toBe(2 * 36);
    enc.setPeerMaxTableSize(0);
    const lowered = roundTrip(enc, dec, ['x-a', '1']);
    expect(lowered[0]).toBe(0x20);
    expect(dec.tableCapacity).toBe(0);
    expect(enc.tableSize).toBe(0);
    enc.setPeerMaxTableSize(65536); // capped at 4096
    const raised = roundTrip(enc, dec, ['x-a', '1']);
    expect(raised.subarray(0, 3).toString('hex')).toBe('3fe11f');
    expect(dec.tableCapacity).toBe(4096);
    expect(roundTrip(enc, dec, ['x-a', '1']).toString('hex')).toBe('be');
  });

  it('signals the smallest then the final size when the size went down and up between blocks (§4.2)', () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder();
    roundTrip(enc, dec, ['x-a', '1']);
    enc.setPeerMaxTableSize(100);
    enc.setPeerMaxTableSize(0);
    enc.setPeerMaxTableSize(4096);
    const block = roundTrip(enc, dec, ['x-b', '2']);
    expect(block.subarray(0, 4).toString('hex')).toBe('203fe11f');
    expect(dec.dynamicTable()).toEqual([['x-b', '2']]);
  });

  it('emits no size update when the peer setting leaves our table size unchanged', () => {
    const enc = new HpackEncoder();
    enc.setPeerMaxTableSize(4096);
    enc.setPeerMaxTableSize(1 << 20);
    expect(enc.encode([':method', 'GET']).toString('hex')).toBe('82');
  });

  it('round-trips -bin values with arbitrary latin1 octets, empty values and values over 127 octets', () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder();
    let bin = '';
    for (let i = 0; i < 256; i++) bin += String.fromCharCode(255 - i);
    const long = 'x'.repeat(300);
    roundTrip(enc, dec, ['trace-bin', bin, 'x-empty', '', 'x-long', long, 'x-empty', '']);
    roundTrip(enc, dec, ['trace-bin', bin, 'x-empty', '', 'x-long', long]);
    roundTrip(enc, dec, ['', '', 'x-long', 'y'.repeat(5000)]);
  });

  it('throws on an odd-length header list without touching the table', () => {
    const enc = new HpackEncoder();
    enc.setPeerMaxTableSize(0);
    expect(() => enc.encode(['x-a', '1', 'x-b'])).toThrow(/odd header list length 3/);
    expect(enc.encode([':method', 'GET']).toString('hex')).toBe('2082'); // the size update is still pending
  });

  it('returns a fresh Buffer that later encodes do not overwrite', () => {
    const enc = new HpackEncoder();
    const a = enc.encode(['x-a', 'first']);
    const copy = Buffer.from(a);
    enc.encode(['x-b', 'second'.repeat(1000)]);
    expect(a).toEqual(copy);
  });

  it('round-trips 1000 random header lists through one encoder/decoder pair (seeded)', () => {
    const rnd = mulberry32(20240611);
    const enc = new HpackEncoder();
    const dec = new HpackDecoder();
    const names = [':method', ':path', ':authority', 'content-type', 'grpc-timeout', 'traceparent', 'x-user',
      'x-tenant', 'authorization', 'accept-encoding', 'grpc-trace-bin', 'user-agent', 'cookie', 'date'];
    const pick = (n: number): number => Math.floor(rnd() * n);
    const randomValue = (): string => {
      const kind = pick(4);
      if (kind === 0) return ['GET', 'POST', 'gzip, deflate', '', 'application/grpc'][pick(5)] as string;
      const len = kind === 3 ? pick(400) : pick(20);
      let s = '';
      for (let i = 0; i < len; i++) s += String.fromCharCode(rnd() < 0.9 ? 32 + pick(95) : pick(256));
      return s;
    };
    for (let n = 0; n < 1000; n++) {
      if (pick(50) === 0) enc.setPeerMaxTableSize(pick(3) === 0 ? 0 : pick(5000));
      const headers: string[] = [];
      const count = pick(12);
      for (let i = 0; i < count; i++) {
        headers.push(pick(5) === 0 ? `x-r${pick(30)}` : (names[pick(names.length)] as string), randomValue());
      }
      roundTrip(enc, dec, headers, pick(4) === 0 ? ['authorization', 'cookie'] : undefined);
    }
  });
});
