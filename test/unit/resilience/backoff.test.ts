// SPDX-License-Identifier: Apache-2.0
// Full-jitter exponential backoff: ceilings double to the cap, draws scale with the injected random.
import { describe, expect, it } from 'vitest';
import { backoffCeilingMs, createBackoff, fullJitterDelayMs } from '../../../src/resilience/backoff.js';

const policy = { baseMs: 250, maxMs: 30_000 };

describe('fullJitterDelayMs', () => {
  it('doubles the ceiling per attempt until the cap', () => {
    const ceilings = [0, 1, 2, 3, 6, 7, 8, 50].map((a) => backoffCeilingMs(a, policy));
    expect(ceilings).toEqual([250, 500, 1000, 2000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('draws uniformly below the ceiling: 0 at random()=0, just under the ceiling near 1', () => {
    expect(fullJitterDelayMs(3, policy, () => 0)).toBe(0);
    expect(fullJitterDelayMs(3, policy, () => 0.5)).toBe(1000);
    expect(fullJitterDelayMs(3, policy, () => 0.999_999)).toBe(1999);
  });

  it('stays finite for huge attempt numbers', () => {
    expect(fullJitterDelayMs(1e9, policy, () => 0.5)).toBe(15_000);
  });

  it('rejects a cap below the base', () => {
    expect(() => backoffCeilingMs(0, { baseMs: 100, maxMs: 50 })).toThrow(RangeError);
  });
});

describe('createBackoff', () => {
  it('counts attempts, grows the delay and starts over after reset()', () => {
    const b = createBackoff({ ...policy, random: () => 0.5 });
    expect([b.next(), b.next(), b.next()]).toEqual([125, 250, 500]);
    expect(b.attempts).toBe(3);
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(125);
  });

  it('spreads clients that fail together (different random sources give different delays)', () => {
    let seed = 42;
    const lcg = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const b = createBackoff({ ...policy, random: lcg });
    const draws = Array.from({ length: 8 }, () => b.next());
    draws.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(backoffCeilingMs(i, policy));
    });
    expect(new Set(draws).size).toBeGreaterThan(4);
  });
});
