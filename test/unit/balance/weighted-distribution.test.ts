// SPDX-License-Identifier: Apache-2.0
// Distribution of calls under every policy (issue 13): weights 1:3 split 1:3, a one-off slow call does not starve
// an endpoint, and a fast-failing endpoint repels traffic until outlier detection ejects it. Fake clock, seeded
// randomness; the measured shares are in the assertion messages.

import { describe, expect, it } from 'vitest';
import { leastRequestPolicy } from '../../../src/balance/least-request.js';
import type { BalancingPolicy, Picker } from '../../../src/balance/picker.js';
import { ringHashPolicy } from '../../../src/balance/ring-hash.js';
import { roundRobinPolicy } from '../../../src/balance/round-robin.js';
import { createOutlierDetector } from '../../../src/resilience/outlier.js';
import { endpoints, fakeEnv, input, type FakeEnv, type TestEndpoint } from './fixtures.js';

const A = '10.0.0.1:80';
const B = '10.0.0.2:80';

interface Call {
  readonly address: string;
  /** Latency in ms and whether the call fails. */
  readonly latencyMs: number;
  readonly failed: boolean;
}

/**
 * Open loop: one call every `intervalMs` on the fake clock, each picked at its arrival, started on its endpoint's
 * load and ended `behaviour(address).latencyMs` later, failures reported with `load.fail`. `onEnd` sees each end
 * in time order (outlier detection). Returns the picked addresses in order.
 */
function run(opts: {
  picker: Picker;
  env: FakeEnv;
  eps: readonly TestEndpoint[];
  calls: number;
  intervalMs: number;
  behaviour: (address: string) => { latencyMs: number; failed: boolean };
  hashKey?: (i: number) => string;
  onEnd?: (call: Call, nowMs: number) => void;
}): string[] {
  const { picker, env } = opts;
  const byAddress = new Map(opts.eps.map((e) => [e.endpoint.address, e]));
  const pending: { atMs: number; call: Call; done: (nowMs: number) => void }[] = [];
  const finishUntil = (t: number): void => {
    while (pending.length > 0 && pending[0]!.atMs <= t) {
      const p = pending.shift()!;
      env.nowMs = p.atMs;
      p.done(p.atMs);
      if (p.call.failed) byAddress.get(p.call.address)!.load.fail(p.atMs);
      opts.onEnd?.(p.call, p.atMs);
    }
  };
  const picked: string[] = [];
  const start = env.nowMs;
  for (let i = 0; i < opts.calls; i++) {
    const arrival = start + i * opts.intervalMs;
    finishUntil(arrival);
    env.nowMs = arrival;
    const chosen = picker.pick(input(opts.hashKey?.(i)));
    if (chosen === undefined) throw new Error('no endpoint picked');
    const address = chosen.endpoint.address;
    picked.push(address);
    const b = opts.behaviour(address);
    const done = chosen.load.start(arrival);
    const atMs = arrival + b.latencyMs;
    let at = pending.length;
    while (at > 0 && pending[at - 1]!.atMs > atMs) at--;
    pending.splice(at, 0, { atMs, call: { address, ...b }, done });
  }
  finishUntil(Number.POSITIVE_INFINITY);
  return picked;
}

function share(picked: readonly string[], address: string): number {
  return picked.filter((a) => a === address).length / picked.length;
}

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;

const POLICIES: readonly [string, BalancingPolicy<never>][] = [
  ['round_robin', roundRobinPolicy as BalancingPolicy<never>],
  ['least_request', leastRequestPolicy as BalancingPolicy<never>],
  ['ring_hash', ringHashPolicy as BalancingPolicy<never>],
];

describe('weights 1:3 over 1,000 calls (10 ms each, one every 20 ms)', () => {
  for (const [name, policy] of POLICIES) {
    it(`${name} sends 25 % +- 10 % of that to the weight-1 endpoint`, () => {
      const env = fakeEnv(13);
      const eps = endpoints([1, 3]);
      const picker = policy.createPicker(eps, { ringSize: 1024 } as never, env);
      const picked = run({
        picker,
        env,
        eps,
        calls: 1000,
        intervalMs: 20,
        behaviour: () => ({ latencyMs: 10, failed: false }),
        hashKey: (i) => `user-${i}`,
      });
      const a = share(picked, A);
      expect(a, `${name}: weight 1 got ${pct(a)}, weight 3 got ${pct(share(picked, B))}`).toBeGreaterThanOrEqual(0.225);
      expect(a, `${name}: weight 1 got ${pct(a)}, weight 3 got ${pct(share(picked, B))}`).toBeLessThanOrEqual(0.275);
    });
  }
});

describe('least_request after one slow call (two endpoints, 10 ms calls, one every 10 ms)', () => {
  it('gives each endpoint at least 30 % of the next 1,000 calls', () => {
    const env = fakeEnv(5);
    const eps = endpoints([1, 1]);
    const picker = leastRequestPolicy.createPicker(eps, {}, env);
    eps[0]!.load.start(0)(185); // one slow call: A's estimate is 185 ms, B's the default 30 ms
    env.nowMs = 185;
    const picked = run({ picker, env, eps, calls: 1000, intervalMs: 10, behaviour: () => ({ latencyMs: 10, failed: false }) });
    const a = share(picked, A);
    const msg = `slow-once endpoint got ${pct(a)}, the other ${pct(1 - a)}`;
    expect(a, msg).toBeGreaterThanOrEqual(0.3);
    expect(1 - a, msg).toBeGreaterThanOrEqual(0.3);
  });
});

describe('least_request with a fast-failing endpoint, fed through outlier detection', () => {
  // The detector always sees A's calls fail; `penalise` only says whether the picker hears it (load.fail).
  const simulate = (penalise: boolean) => {
    const env = fakeEnv(11);
    const eps = endpoints([1, 1, 1]);
    const picker = leastRequestPolicy.createPicker(eps, {}, env);
    const detector = createOutlierDetector(
      { consecutiveFailures: 7, baseEjectionMs: 30_000, maxEjectionMs: 60_000, jitterPercent: 0, maxEjectedPercent: 50 },
      env.random,
    );
    let ejectedAtCall = -1;
    let calls = 0;
    const picked = run({
      picker,
      env,
      eps,
      calls: 2000,
      intervalMs: 5,
      // A fails in 1 ms: without the penalty it would look like the fastest endpoint.
      behaviour: (address) => (address === A ? { latencyMs: 1, failed: penalise } : { latencyMs: 10, failed: false }),
      onEnd: (call, nowMs) => {
        const t = detector.record(call.address, call.address === A ? 'failure' : 'success', nowMs, eps.length);
        if (t?.kind === 'eject') {
          eps.find((e) => e.endpoint.address === call.address)!.ready = false;
          if (ejectedAtCall < 0) ejectedAtCall = calls;
        }
      },
    });
    calls = picked.length;
    return { picked, ejectedAtCall };
  };

  it('sends it at most 10 % of the calls made before it is ejected', () => {
    const { picked } = simulate(true);
    // Calls before ejection: up to the first call after A's 7th pick (A is not ready from then on).
    const seventh = nthIndex(picked, A, 7);
    expect(seventh, 'A was never picked 7 times').toBeGreaterThan(0);
    const before = picked.slice(0, seventh + 1);
    const a = share(before, A);
    expect(a, `failing endpoint got ${pct(a)} of the ${before.length} calls before its ejection`).toBeLessThanOrEqual(0.1);
    expect(picked.slice(seventh + 1).includes(A), 'picked after ejection').toBe(false);
  });

  it('(control) without the failure penalty the fast-failing endpoint draws more than its third', () => {
    const { picked } = simulate(false);
    const seventh = nthIndex(picked, A, 7);
    const a = share(picked.slice(0, seventh + 1), A);
    expect(a, `unpenalised failing endpoint got ${pct(a)}`).toBeGreaterThan(1 / 3);
  });
});

function nthIndex(list: readonly string[], value: string, n: number): number {
  let seen = 0;
  for (let i = 0; i < list.length; i++) if (list[i] === value && ++seen === n) return i;
  return -1;
}
