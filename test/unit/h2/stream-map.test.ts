// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { StreamMap } from '../../../src/h2/stream-map.js';
import { seededRandom } from '../../helpers/prng.js';

interface S {
  readonly id: number;
  readonly tag: number;
}

/** Checks every observable of `table` against the reference Map. */
function expectSame(table: StreamMap<S>, ref: Map<number, S>, probeIds: number[]): void {
  expect(table.size).toBe(ref.size);
  for (const id of probeIds) {
    expect(table.get(id)).toBe(ref.get(id));
    expect(table.has(id)).toBe(ref.has(id));
  }
  const listed = table.list().map((s) => s.id).sort((a, b) => a - b);
  expect(listed).toEqual([...ref.keys()].sort((a, b) => a - b));
}

describe('StreamMap', () => {
  it('gets, replaces and deletes by id', () => {
    const t = new StreamMap<S>();
    const a = { id: 1, tag: 1 };
    t.set(a);
    expect(t.get(1)).toBe(a);
    expect(t.size).toBe(1);
    const a2 = { id: 1, tag: 2 };
    t.set(a2);
    expect(t.get(1)).toBe(a2);
    expect(t.size).toBe(1);
    expect(t.delete(3)).toBe(false);
    expect(t.delete(1)).toBe(true);
    expect(t.delete(1)).toBe(false);
    expect(t.get(1)).toBeUndefined();
    expect(t.size).toBe(0);
  });

  it('refuses ids a stream cannot have', () => {
    const t = new StreamMap<S>();
    for (const id of [0, -1, 1.5, 2 ** 31, Number.NaN]) expect(() => t.set({ id, tag: 0 })).toThrow(/stream id .* out of range/);
    t.set({ id: 2 ** 31 - 1, tag: 0 });
    expect(t.get(2 ** 31 - 1)?.tag).toBe(0);
  });

  it('matches a Map over 20,000 seeded operations (collisions, wrap-around, growth and shrinking)', () => {
    for (const seed of [1, 2, 3, 42, 2026]) {
      const rnd = seededRandom(seed);
      const t = new StreamMap<S>();
      const ref = new Map<number, S>();
      // Ids from a small range so that probes collide and wrap; odd and even alike.
      const ids = Array.from({ length: 300 }, (_, i) => i + 1);
      for (let op = 0; op < 20_000; op++) {
        const id = ids[Math.floor(rnd() * ids.length)] as number;
        const r = rnd();
        // Phases that fill up and drain, so the table grows and shrinks.
        const fill = Math.floor(op / 2000) % 2 === 0 ? 0.7 : 0.3;
        if (r < fill) {
          const s = { id, tag: op };
          t.set(s);
          ref.set(id, s);
        } else {
          expect(t.delete(id)).toBe(ref.delete(id));
        }
        if (op % 500 === 0) expectSame(t, ref, ids);
      }
      expectSame(t, ref, ids);
    }
  });

  it('holds a sliding window of open streams in a small table, whatever the ids reached', () => {
    const t = new StreamMap<S>();
    const open: S[] = [];
    for (let id = 1; id < 2_000_001; id += 2) {
      const s = { id, tag: 0 };
      t.set(s);
      open.push(s);
      if (open.length > 100) t.delete((open.shift() as S).id);
    }
    expect(t.size).toBe(100);
    expect(t.capacity).toBe(256);
    for (const s of open) expect(t.get(s.id)).toBe(s);
  });

  it('grows with many open streams and shrinks back once they close', () => {
    const t = new StreamMap<S>();
    for (let id = 1; id <= 20_000; id += 2) t.set({ id, tag: 0 });
    expect(t.size).toBe(10_000);
    expect(t.capacity).toBeGreaterThanOrEqual(20_000);
    for (let id = 1; id <= 19_999; id += 2) if (id !== 777) t.delete(id);
    expect(t.size).toBe(1);
    expect(t.capacity).toBe(16);
    expect(t.get(777)?.id).toBe(777);
  });

  it('list() is a copy: closing every listed stream while walking it is safe, and `limit` caps it', () => {
    const t = new StreamMap<S>();
    for (let id = 1; id <= 99; id += 2) t.set({ id, tag: 0 });
    expect(t.list(10)).toHaveLength(10);
    for (const s of t.list()) t.delete(s.id);
    expect(t.size).toBe(0);
    expect(t.list()).toEqual([]);
  });
});
