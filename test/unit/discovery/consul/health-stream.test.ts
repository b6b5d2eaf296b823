// SPDX-License-Identifier: Apache-2.0
// The incremental health-answer reader: entries come out whole and in order wherever the chunks split, brackets
// inside strings (escaped quotes included) do not count, and every kind of bad body fails with its reason.
import { describe, expect, it } from 'vitest';
import { createHealthEntryStream, HealthStreamFailure } from '../../../../src/discovery/consul/health-stream.js';

function read(body: string, chunkSize: number): unknown[] {
  const out: unknown[] = [];
  const s = createHealthEntryStream({ onEntry: (e, i) => out.push([i, e]) });
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
