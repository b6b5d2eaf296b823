// SPDX-License-Identifier: Apache-2.0
// The incremental health-answer reader: entries come out whole and in order wherever the chunks split, brackets
// inside strings (escaped quotes included) do not count, and every kind of bad body fails with its reason.
import { describe, expect, it } from 'vitest';
import { createHealthEntryStream, HealthStreamFailure } from '../../../../src/discovery/consul/health-stream.js';

function read(body: string, chunkSize: number, skipKeys?: readonly string[]): unknown[] {
  const out: unknown[] = [];
  const s = createHealthEntryStream({ onEntry: (e, i) => out.push([i, e]), skipKeys });
  const buf = Buffer.from(body, 'utf8');
  for (let i = 0; i < buf.length; i += chunkSize) s.push(buf.subarray(i, i + chunkSize));
  expect(s.end()).toBe(out.length);
  return out;
}

function failure(body: string): HealthStreamFailure {
  const s = createHealthEntryStream({ onEntry: () => {} });
  try {
    s.push(Buffer.from(body));
    s.end();
  } catch (err) {
    return err as HealthStreamFailure;
  }
  throw new Error('no failure');
}

const ENTRIES = [
  { Node: { Address: '10.0.0.1' }, Service: { ID: 'a', Meta: { note: 'has } and ] and \\" inside, and é' } } },
  { Node: { Address: '10.0.0.2' }, Service: { ID: 'b', Tags: ['[x]', '{y}'] }, Checks: [{ Output: '"quoted"' }] },
  // Backslash runs of every parity before a quote, so a chunk boundary falls inside each of them.
  { Node: { Address: '10.0.0.3' }, Service: { ID: 'c\\', Meta: { a: '\\\"}', b: '\\\\', c: '}\\' } } },
];

describe('createHealthEntryStream', () => {
  it('yields each entry whole and in order, however the body is split', () => {
    const body = ` [ ${ENTRIES.map((e) => JSON.stringify(e)).join(' ,\n')} ]\n`;
    const expected = ENTRIES.map((e, i) => [i, e]);
    for (const size of [1, 2, 3, 7, 64, body.length]) expect(read(body, size)).toEqual(expected);
  });

  it('drops the values of skipKeys at the top level of each entry only, however the body is split', () => {
    const entries = [
      ...ENTRIES,
      // Checks first, last, alone, nested deep, holding every awkward string; a nested "Checks" is kept.
      { Checks: [{ Output: 'x}],{"Checks":' }], Node: { Address: '10.0.0.4', Checks: 'kept' }, Service: { ID: 'd' } },
      { Checks: { a: [[{}], '\\"', '{'] } },
      { Node: { Address: '10.0.0.5' }, Checks: 'scalar', Service: { ID: 'e', Meta: { Checks: '[' } } },
      { Node: { Address: '10.0.0.6' }, Checks: null, 'Chec\"ks': [1], "a\"Checks": [2] },
    ];
    // Whitespace around the colons and commas, as a pretty-printed answer has it.
    const body = `[\n${entries.map((e) => JSON.stringify(e, null, 2)).join(',\n')}\n]`;
    const expected = entries.map((e, i) => [i, 'Checks' in e ? { ...e, Checks: null } : e]);
    for (const size of [1, 2, 3, 5, 7, 64, body.length]) expect(read(body, size, ['Checks'])).toEqual(expected);
  });

  it('keeps the whole entry when no key is to be skipped', () => {
    const body = JSON.stringify([{ Checks: [1], Node: {} }]);
    expect(read(body, 3)).toEqual([[0, { Checks: [1], Node: {} }]]);
  });

  it('reads an empty array as no entries', () => {
    expect(read('[]', 1)).toEqual([]);
  });

  it.each([
    ['<html>502</html>', 'not_json'],
    ['', 'not_json'],
    ['[{"a":1}] x', 'not_json'],
    ['[{"a":1,}]', 'not_json'],
    ['[1, 2]', 'missing_fields'],
    ['[{"a":"b"}, {"a":', 'truncated'],
    ['[{"a":"b"}', 'truncated'],
  ])('fails on %j with reason %s', (body, reason) => {
    const err = failure(body);
    expect(err).toBeInstanceOf(HealthStreamFailure);
    expect(err.reason).toBe(reason);
  });
});
