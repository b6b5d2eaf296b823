// SPDX-License-Identifier: Apache-2.0
// least_request (P2C over peak-EWMA): choice in proportion to weight / cost, readiness, avoid, and a fake-clock
// simulation where one endpoint is 10x slower.

import { describe, expect, it } from 'vitest';
import { leastRequestPolicy } from '../../../src/balance/least-request.js';
import type { Picker } from '../../../src/balance/picker.js';
import { roundRobinPolicy } from '../../../src/balance/round-robin.js';
import { countPicks, endpoints, fakeEnv, input, simulate, type FakeEnv, type TestEndpoint } from './fixtures.js';

function lr(eps: readonly TestEndpoint[], env: FakeEnv = fakeEnv(1)): Picker {
  return leastRequestPolicy.createPicker(eps, {}, env);
}

const A = '10.0.0.1:80';
const B = '10.0.0.2:80';
const C = '10.0.0.3:80';

describe('least_request', () => {
  it('prefers the cheaper of two in proportion to 1 / cost (A costs 3x B: A gets ~1/4)', () => {
    const eps = endpoints([1, 1]);
    eps[0]!.load.start(0);
    eps[0]!.load.start(0); // A: 30 x 3, B: 30 x 1
    const counts = countPicks(lr(eps), 4000);
    expect(counts.get(A)! / 4000).toBeCloseTo(0.25, 1);
  });

  it('compares latency, not only in-flight counts', () => {
    const eps = endpoints([1, 1]);
    eps[0]!.load.start(0)(500); // A: 500 ms estimate, idle
    eps[1]!.load.start(500); //    B: 30 ms x 2
    const env = fakeEnv(1, 500);
    const counts = countPicks(lr(eps, env), 4000);
    expect(counts.get(A)! / 4000).toBeCloseTo(60 / 560, 1);
  });

  it('divides cost by weight (Envoy active_request_bias 1): weight 3 with 2 in flight ties weight 1 idle', () => {
    const eps = endpoints([1, 3]);
    eps[1]!.load.start(0);
    eps[1]!.load.start(0); // B: 3 / (30 x 3) = A: 1 / 30
    const counts = countPicks(lr(eps), 4000);
    expect(counts.get(A)! / 4000).toBeCloseTo(0.5, 1);
  });

  it('starves no endpoint: the most loaded of three still gets a small share', () => {
    const eps = endpoints([1, 1, 1]);
    for (let i = 0; i < 5; i++) eps[2]!.load.start(0);
    const counts = countPicks(lr(eps), 3000);
    // C is in 2/3 of the pairs and wins each with 1/7: about 9.5 %.
    expect(counts.get(C)! / 3000).toBeGreaterThan(0.05);
    expect(counts.get(C)! / 3000).toBeLessThan(0.15);
    expect(counts.get(A)).toBeGreaterThan(1200);
    expect(counts.get(B)).toBeGreaterThan(1200);
  });

  it('draws in proportion to weight when costs are equal', () => {
    const counts = countPicks(lr(endpoints([1, 3])), 10_000);
    // Equal costs: the pair's choice is weight / (weight + other weight): 25 % / 75 %.
    expect(counts.get(A)! / 10_000).toBeCloseTo(0.25, 1);
    expect(counts.get(B)! / 10_000).toBeCloseTo(0.75, 1);
  });

  it('returns the only ready endpoint, however loaded', () => {
    const eps = endpoints([1, 1, 1]);
    eps[0]!.ready = false;
    eps[2]!.ready = false;
    for (let i = 0; i < 50; i++) eps[1]!.load.start(0);
    expect(Object.fromEntries(countPicks(lr(eps), 20))).toEqual({ [B]: 20 });
    expect(lr([eps[1]!]).pick(input())?.endpoint.address).toBe(B);
  });

  it('skips not-ready endpoints even when most are not ready (exact fallback draw)', () => {
    const eps = endpoints(Array.from({ length: 20 }, (_, i) => (i % 3) + 1));
    for (const e of eps) e.ready = false;
    eps[4]!.ready = true;
    eps[17]!.ready = true;
    const counts = countPicks(lr(eps), 500);
    expect([...counts.keys()].sort()).toEqual([eps[17]!.endpoint.address, eps[4]!.endpoint.address].sort());
  });

  it('reads readiness at every pick', () => {
    const eps = endpoints([1, 1]);
    const picker = lr(eps);
    eps[1]!.ready = false;
    expect(Object.fromEntries(countPicks(picker, 20))).toEqual({ [A]: 20 });
  });

  it('returns undefined when no endpoint is ready, or there are none', () => {
    const eps = endpoints([1, 1]);
    for (const e of eps) e.ready = false;
    expect(lr(eps).pick(input())).toBeUndefined();
    expect(lr([]).pick(input())).toBeUndefined();
  });

  it('honours avoid when another ready endpoint exists, even if the avoided one is cheaper', () => {
    const eps = endpoints([1, 1, 1]);
    for (let i = 0; i < 5; i++) eps[0]!.load.start(0);
    for (let i = 0; i < 5; i++) eps[1]!.load.start(0);
    const counts = countPicks(lr(eps), 500, input(undefined, [C]));
    expect(counts.get(C)).toBeUndefined();
    expect(counts.get(A)! + counts.get(B)!).toBe(500);
  });

  it('picks an avoided endpoint rather than nothing when it is the only ready one', () => {
    const eps = endpoints([1, 1]);
    eps[0]!.ready = false;
    expect(lr(eps).pick(input(undefined, [B]))?.endpoint.address).toBe(B);
  });

  it('is deterministic for a given random source', () => {
    const seq = (seed: number) => {
      const picker = lr(endpoints([1, 2, 3, 4]), fakeEnv(seed));
      return Array.from({ length: 100 }, () => picker.pick(input())?.endpoint.address);
    };
    expect(seq(9)).toEqual(seq(9));
  });

  describe('simulation: one endpoint 10x slower, 1 request / 2 ms for 20 s of fake time', () => {
    const latency = (address: string) => (address === C ? 100 : 10);
    const run = (policy: 'least_request' | 'round_robin') => {
      const env = fakeEnv(7);
      const eps = endpoints([1, 1, 1]);
      const picker =
        policy === 'least_request'
          ? leastRequestPolicy.createPicker(eps, {}, env)
          : roundRobinPolicy.createPicker(eps, {}, env);
      const counts = simulate({ picker, env, requests: 10_000, intervalMs: 2, latencyMs: latency });
      return { share: (counts.get(C) ?? 0) / 10_000, eps };
    };

    it('sends the slow endpoint under 15 % of requests', () => {
      const { share, eps } = run('least_request');
      expect(share).toBeLessThan(0.15);
      expect(share).toBeGreaterThan(0); // still probed now and then, so its estimate stays fresh
      for (const e of eps) expect(e.load.inflight).toBe(0);
      expect(eps[2]!.load.ewmaMs).toBeGreaterThan(90);
    });

    it('(control) gives the slow endpoint a third under round_robin, so the simulation discriminates', () => {
      expect(run('round_robin').share).toBeCloseTo(1 / 3, 2);
    });
  });
});
