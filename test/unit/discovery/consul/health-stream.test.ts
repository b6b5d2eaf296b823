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

describe('entry fingerprints', () => {
  const fingerprints = (body: string, chunkSize: number, known?: (fp: number) => boolean): { fps: number[]; parsed: number } => {
    const fps: number[] = [];
    let parsed = 0;
    const s = createHealthEntryStream({
      onEntry: (_e, _i, fp) => {
        parsed += 1;
        fps.push(fp);
      },
      skipKeys: ['Checks'],
      known: known === undefined ? undefined : (fp) => (fps.push(fp), known(fp)),
    });
    const buf = Buffer.from(body, 'utf8');
    for (let i = 0; i < buf.length; i += chunkSize) s.push(buf.subarray(i, i + chunkSize));
    s.end();
    return { fps, parsed };
  };
  const entry = (id: string, checks: string, meta = 'é') =>
    JSON.stringify({ Node: { Address: '10.0.0.1' }, Service: { ID: id, Meta: { m: meta } }, Checks: [{ Output: checks }] });

  it('gives equal kept bytes equal fingerprints wherever the chunks split, whatever the skipped Checks hold', () => {
    const body = `[${entry('a', 'ok')},${entry('a', 'x}]"{')},${entry('b', 'ok')},${entry('a', 'ok', 'è')}]`;
    for (const size of [1, 3, 7, body.length]) {
      const { fps } = fingerprints(body, size);
      expect(fps[0]).toBe(fps[1]); // only Checks differ
      expect(new Set(fps).size).toBe(3); // a Service field or one multi-byte character differs
      expect(fps).toEqual(fingerprints(body, body.length).fps);
      for (const fp of fps) expect(Number.isSafeInteger(fp) && fp >= 0).toBe(true);
    }
  });

  it('parses only the entries `known` does not claim', () => {
    const body = `[${entry('a', 'ok')},${entry('b', 'ok')}]`;
    const [fpA] = fingerprints(body, body.length).fps;
    const { parsed, fps } = fingerprints(body, 5, (fp) => fp === fpA);
    expect(parsed).toBe(1);
    expect(fps).toHaveLength(3); // asked twice, parsed (and reported) once
  });
});
