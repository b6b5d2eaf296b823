// SPDX-License-Identifier: Apache-2.0
// RFC 9113 §8.2.1 field values, as the HPACK decoder checks them (src/h2/hpack/decoder.ts): literals with NUL, CR,
// LF or whitespace at either end are reported by name, once per block; values from the tables are trusted unless a
// forbidden one ever entered the dynamic table.

import { describe, expect, it } from 'vitest';
import { HpackDecoder } from '../../../../src/h2/hpack/decoder.js';
import { HpackEncoder } from '../../../../src/h2/hpack/encoder.js';

/** A literal field without indexing, new name (§6.2.2), raw strings. */
function literal(name: string, value: string, indexing = false): number[] {
  return [indexing ? 0x40 : 0x00, name.length, ...Buffer.from(name, 'latin1'), value.length, ...Buffer.from(value, 'latin1')];
}

describe('HPACK decoder: §8.2.1 field values', () => {
  it.each([
    ['NUL', 'a\u0000b'],
    ['CR', 'a\rb'],
    ['LF', 'a\nb'],
    ['a leading space', ' a'],
    ['a trailing tab', 'a\t'],
  ])('reports a literal value with %s by its name, and decodes the block in full', (_what, value) => {
    const d = new HpackDecoder();
    const out: string[] = [];
    const block = Buffer.from([...literal('x-ok', 'fine'), ...literal('x-bad', value), ...literal('x-bad2', value)]);
    d.decode(block, 0, block.length, out);
    expect(d.badValueName).toBe('x-bad');
    expect(out).toHaveLength(6);
  });

  it('accepts inner spaces, tabs and bytes above 0x7f, and resets the report per block', () => {
    const d = new HpackDecoder();
    const bad = Buffer.from(literal('x-bad', 'a\nb'));
    d.decode(bad, 0, bad.length, []);
    const good = Buffer.from([...literal('x-s', 'a b\tc'), ...literal('x-h', '\u00ff\u0080')]);
    d.decode(good, 0, good.length, []);
    expect(d.badValueName).toBeUndefined();
  });

  it('a forbidden value that entered the dynamic table is reported when referenced by index later', () => {
    const d = new HpackDecoder();
    const first = Buffer.from(literal('x-bad', 'a\rb', true));
    d.decode(first, 0, first.length, []);
    expect(d.badValueName).toBe('x-bad');
    const second = Buffer.from([0xbe]); // index 62: the entry just added
    const out: string[] = [];
    d.decode(second, 0, second.length, out);
    expect(out).toEqual(['x-bad', 'a\rb']);
    expect(d.badValueName).toBe('x-bad');
  });

  it('valid fields from the encoder, indexed or not, are not reported', () => {
    const enc = new HpackEncoder();
    const d = new HpackDecoder();
    for (let i = 0; i < 3; i++) {
      const block = enc.encode([':method', 'POST', 'grpc-timeout', `${i}m`, 'x-tenant', 'blue']);
      d.decode(block, 0, block.length, []);
      expect(d.badValueName).toBeUndefined();
    }
  });
});
