// SPDX-License-Identifier: Apache-2.0
// round_robin: even and weighted spread, smoothness, readiness, avoid, random start, determinism.

import { describe, expect, it } from 'vitest';
import type { Picker } from '../../../src/balance/picker.js';
import { roundRobinPolicy } from '../../../src/balance/round-robin.js';
import { countPicks, endpoints, fakeEnv, input, pickSequence, type TestEndpoint } from './fixtures.js';

function rr(eps: readonly TestEndpoint[], seed = 1): Picker {
  return roundRobinPolicy.createPicker(eps, {}, fakeEnv(seed));
}

const A = '10.0.0.1:80';
const B = '10.0.0.2:80';
const C = '10.0.0.3:80';

describe('round_robin', () => {
  it('spreads 3000 picks over 3 endpoints exactly evenly', () => {
    const counts = countPicks(rr(endpoints([1, 1, 1])), 3000);
    expect(Object.fromEntries(counts)).toEqual({ [A]: 1000, [B]: 1000, [C]: 1000 });
  });

  it('cycles through every endpoint before repeating one', () => {
    const seq = pickSequence(rr(endpoints([1, 1, 1])), 9);
    for (let i = 0; i < 9; i += 3) expect(new Set(seq.slice(i, i + 3)).size).toBe(3);
  });

  it('respects weights 1:2:3 exactly over 6000 picks', () => {
    const counts = countPicks(rr(endpoints([1, 2, 3])), 6000);
    expect(Object.fromEntries(counts)).toEqual({ [A]: 1000, [B]: 2000, [C]: 3000 });
  });

  it('interleaves weighted picks smoothly: every window of sum(weights) picks matches the weights', () => {
    const seq = pickSequence(rr(endpoints([1, 2, 3]), 7), 600);
    for (let i = 0; i + 6 <= seq.length; i++) {
      const w = seq.slice(i, i + 6);
      expect([A, B, C].map((a) => w.filter((x) => x === a).length)).toEqual([1, 2, 3]);
    }
    // 5:1:1 is interleaved (a a b a c a a style), never five of the heavy endpoint in a row.
    const skewed = pickSequence(rr(endpoints([5, 1, 1])), 70).join(' ');
    expect(skewed).not.toContain(Array(5).fill(A).join(' '));
  });

  it('skips not-ready endpoints and spreads evenly over the rest', () => {
    const eps = endpoints([1, 1, 1]);
    eps[1]!.ready = false;
    const counts = countPicks(rr(eps), 3000);
    expect(Object.fromEntries(counts)).toEqual({ [A]: 1500, [C]: 1500 });
  });

  it('skips not-ready endpoints in weighted mode and keeps the others in proportion', () => {
    const eps = endpoints([1, 2, 3]);
    eps[2]!.ready = false;
    const counts = countPicks(rr(eps), 3000);
    expect(Object.fromEntries(counts)).toEqual({ [A]: 1000, [B]: 2000 });
  });

  it('reads readiness at every pick, so a breaker can flip it without a new snapshot', () => {
    const eps = endpoints([1, 1]);
    const picker = rr(eps);
    eps[0]!.ready = false;
    expect(new Set(pickSequence(picker, 10))).toEqual(new Set([B]));
    eps[0]!.ready = true;
    expect(new Set(pickSequence(picker, 10))).toEqual(new Set([A, B]));
  });

  it('returns undefined when no endpoint is ready, or there are none', () => {
    const eps = endpoints([1, 2]);
    for (const e of eps) e.ready = false;
    expect(rr(eps).pick(input())).toBeUndefined();
    expect(rr([]).pick(input())).toBeUndefined();
  });

  it.each([
    ['equal', [1, 1, 1]],
    ['weighted', [1, 2, 3]],
  ])('honours avoid when another ready endpoint exists (%s weights)', (_name, weights) => {
    const picker = rr(endpoints(weights));
    const counts = countPicks(picker, 600, input(undefined, [C]));
    expect(counts.get(C)).toBeUndefined();
    expect(counts.get(A)).toBeGreaterThan(0);
    expect(counts.get(B)).toBeGreaterThan(0);
  });

  it('picks an avoided endpoint rather than nothing when it is the only ready one', () => {
    const eps = endpoints([1, 1, 1]);
    eps[0]!.ready = false;
    eps[1]!.ready = false;
    const counts = countPicks(rr(eps), 10, input(undefined, [C]));
    expect(Object.fromEntries(counts)).toEqual({ [C]: 10 });
  });

  it('starts at a random position, so sidecars with the same list do not all hit the same first endpoint', () => {
    const firstPicks = (weights: number[]) =>
      new Set(Array.from({ length: 40 }, (_, seed) => rr(endpoints(weights), seed).pick(input())?.endpoint.address));
    expect(firstPicks([1, 1, 1])).toEqual(new Set([A, B, C]));
    expect(firstPicks([1, 2, 3]).size).toBeGreaterThan(1);
  });

  it('is deterministic for a given random source', () => {
    expect(pickSequence(rr(endpoints([1, 2, 3]), 42), 50)).toEqual(pickSequence(rr(endpoints([1, 2, 3]), 42), 50));
  });

  it('does not mutate the endpoint list it was given', () => {
    const eps = endpoints([3, 1, 2]);
    const before = eps.slice();
    pickSequence(rr(eps), 10);
    expect(eps).toEqual(before);
  });
});
