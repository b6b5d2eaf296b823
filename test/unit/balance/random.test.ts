// SPDX-License-Identifier: Apache-2.0
// Seeded randomness for pickers: reproducible, in range, roughly uniform; and the system environment.

import { describe, expect, it } from 'vitest';
import { createSeededRandom, systemPickerEnv } from '../../../src/balance/random.js';

describe('createSeededRandom', () => {
  it('repeats the same sequence for the same seed and differs across seeds', () => {
    const take = (seed: number) => Array.from({ length: 20 }, createSeededRandom(seed));
    expect(take(42)).toEqual(take(42));
    expect(take(42)).not.toEqual(take(43));
    expect(take(1)).toEqual(take(2 ** 32 + 1)); // only the low 32 bits of the seed count
  });

  it('returns numbers in [0, 1) spread evenly over ten buckets', () => {
    const random = createSeededRandom(7);
    const buckets = new Array<number>(10).fill(0);
    let min = 1;
    let max = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = random();
      min = Math.min(min, x);
      max = Math.max(max, x);
      buckets[Math.floor(x * 10)]!++;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    for (const b of buckets) expect(Math.abs(b - 10_000)).toBeLessThan(500);
  });
});

describe('systemPickerEnv', () => {
  it('uses Math.random and a monotonic clock', () => {
    expect(systemPickerEnv.random).toBe(Math.random);
    const a = systemPickerEnv.now();
    expect(systemPickerEnv.now()).toBeGreaterThanOrEqual(a);
  });
});
