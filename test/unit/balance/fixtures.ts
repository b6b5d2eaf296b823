// SPDX-License-Identifier: Apache-2.0
// Test doubles for balancing: a fake clock + seeded randomness (PickerEnv), mutable picker endpoints, a pick
// counter, and a small discrete-event simulator for load-aware policies.

import { endpointFromAddress } from '../../../src/discovery/resolver.js';
import { createEndpointLoad } from '../../../src/balance/endpoint-load.js';
import type { Picker, PickerEndpoint, PickerEnv, PickInput } from '../../../src/balance/picker.js';
import { createSeededRandom } from '../../../src/balance/random.js';

/** A PickerEnv whose clock only moves when the test says so. */
export interface FakeEnv extends PickerEnv {
  nowMs: number;
  advance(ms: number): void;
}

export function fakeEnv(seed = 1, startMs = 0): FakeEnv {
  const random = createSeededRandom(seed);
  const env: FakeEnv = {
    nowMs: startMs,
    random,
    now: () => env.nowMs,
    advance(ms: number) {
      env.nowMs += ms;
    },
  };
  return env;
}

/** A PickerEndpoint whose readiness a test may flip, like the balance layer's BackendEndpoint. */
export interface TestEndpoint extends PickerEndpoint {
  ready: boolean;
}

export function endpoint(address: string, weight = 1, ready = true): TestEndpoint {
  return { endpoint: endpointFromAddress(address, weight), load: createEndpointLoad({ nowMs: 0 }), ready };
}

/** Endpoints 10.0.0.1:80, 10.0.0.2:80, ... with the given weights. */
export function endpoints(weights: readonly number[]): TestEndpoint[] {
  return weights.map((w, i) => endpoint(`10.0.0.${i + 1}:80`, w));
}

export const NO_INPUT: PickInput = Object.freeze({ hashKey: undefined, avoid: undefined });

export function input(hashKey?: string, avoid?: readonly string[]): PickInput {
  return { hashKey, avoid: avoid === undefined ? undefined : new Set(avoid) };
}

/** Picks `n` times and counts picks per address (undefined picks under the key 'none'). */
export function countPicks(picker: Picker, n: number, pickInput: PickInput = NO_INPUT): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const key = picker.pick(pickInput)?.endpoint.address ?? 'none';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** The sequence of addresses of `n` picks. */
export function pickSequence(picker: Picker, n: number, pickInput: PickInput = NO_INPUT): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(picker.pick(pickInput)?.endpoint.address ?? 'none');
  return out;
}

/**
 * Open-loop discrete-event simulation: one request every `intervalMs` for `requests` requests; each is picked
 * at its arrival time, started on its endpoint's load, and done `latencyMs(address)` later on the fake clock.
 * Requests overlap, so in-flight counts build up on slow endpoints. Returns picks per address.
 */
export function simulate(opts: {
  picker: Picker;
  env: FakeEnv;
  requests: number;
  intervalMs: number;
  latencyMs: (address: string) => number;
}): Map<string, number> {
  const { picker, env } = opts;
  const counts = new Map<string, number>();
  // Pending completions, kept sorted by time (ties in order of start).
  const pending: { atMs: number; done: (nowMs: number) => void }[] = [];
  const finishUntil = (t: number): void => {
    while (pending.length > 0 && pending[0]!.atMs <= t) {
      const next = pending.shift()!;
      env.nowMs = next.atMs;
      next.done(next.atMs);
    }
  };
  for (let r = 0; r < opts.requests; r++) {
    const arrival = r * opts.intervalMs;
    finishUntil(arrival);
    env.nowMs = arrival;
    const chosen = picker.pick(NO_INPUT);
    if (chosen === undefined) throw new Error('simulation: no endpoint picked');
    const address = chosen.endpoint.address;
    counts.set(address, (counts.get(address) ?? 0) + 1);
    const done = chosen.load.start(arrival);
    const atMs = arrival + opts.latencyMs(address);
    let at = pending.length;
    while (at > 0 && pending[at - 1]!.atMs > atMs) at--;
    pending.splice(at, 0, { atMs, done });
  }
  finishUntil(Number.POSITIVE_INFINITY);
  return counts;
}
