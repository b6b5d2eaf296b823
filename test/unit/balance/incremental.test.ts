// SPDX-License-Identifier: Apache-2.0
// Incremental updates (issue 13): Backends applies a change of k endpoints as k list steps and each policy's
// updatePicker follows them; the picker must pick exactly as one built from scratch over the same list. Seeded
// random sequences of add/remove/weight/meta/readiness changes, delivered as changes or as whole sets, plus the
// edge cases (last endpoint removed, all replaced, weight only, the same set again).

import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Backends, type Backend, type BackendEndpoint } from '../../../src/balance/backends.js';
import { createEndpointLoad, DEFAULT_RTT_MS } from '../../../src/balance/endpoint-load.js';
import { leastRequestPolicy } from '../../../src/balance/least-request.js';
import type { BalancingPolicy, EndpointListStep, Picker, PickerEndpoint, PickerEnv } from '../../../src/balance/picker.js';
import { createSeededRandom } from '../../../src/balance/random.js';
import { ringHashPolicy, ringHashStats } from '../../../src/balance/ring-hash.js';
import { roundRobinPolicy } from '../../../src/balance/round-robin.js';
import {
  endpointFromAddress,
  type Endpoint,
  type EndpointChanges,
  type Resolution,
  type ResolutionUpdate,
  type Resolver,
} from '../../../src/discovery/resolver.js';
import { endpoint as testEndpoint, input } from './fixtures.js';

const silent = pino({ level: 'silent' });

/** A PickerEnv whose random source the test reseeds, counting draws. */
class SwitchEnv implements PickerEnv {
  draws = 0;
  nowMs = 1000;
  private source: () => number = createSeededRandom(0);
  readonly random = (): number => {
    this.draws += 1;
    return this.source();
  };
  readonly now = (): number => this.nowMs;
  reseed(seed: number): void {
    this.source = createSeededRandom(seed);
  }
}

/** A resolver whose results the test delivers by hand (synchronously), with or without watchChanges. */
class HandResolver implements Resolver {
  readonly kind = 'hand';
  onResult: ((r: ResolutionUpdate) => void) | undefined;
  watch(_backend: string, onResult: (r: Resolution) => void) {
    return this.watchChanges(_backend, onResult as (r: ResolutionUpdate) => void);
  }
  watchChanges(_backend: string, onResult: (r: ResolutionUpdate) => void) {
    this.onResult = onResult;
    return { close: () => void (this.onResult = undefined) };
  }
  send(r: ResolutionUpdate): void {
    this.onResult?.(r);
  }
}

interface Harness {
  readonly backends: Backends;
  readonly backend: Backend;
  readonly resolver: HandResolver;
  readonly env: SwitchEnv;
  readonly removed: string[];
}

const open: Backends[] = [];
afterEach(() => {
  for (const b of open.splice(0)) b.close();
});

function harness(policy: BalancingPolicy<unknown>, options: unknown = {}): Harness {
  const resolver = new HandResolver();
  const env = new SwitchEnv();
  const removed: string[] = [];
  const backends = new Backends({
    resolver,
    isKnown: () => true,
    balancingFor: () => ({ policy, options, hashHeader: undefined }),
    env,
    log: silent,
    onEndpointRemoved: (address) => removed.push(address),
  });
  open.push(backends);
  const backend = backends.get('svc')!;
  return { backends, backend, resolver, env, removed };
}

/** `count` picks with seeded randomness, a moving clock and some avoid sets: addresses, or 'none'. */
function picks(picker: Picker | undefined, seed: number, count: number, addresses: readonly string[]): string[] {
  const env = { random: createSeededRandom(seed) };
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = env.random();
    const avoid = r < 0.2 && addresses.length > 0 ? [addresses[Math.floor(r * 5 * addresses.length)]!] : undefined;
    const key = r > 0.6 ? `key-${Math.floor(r * 1000)}` : undefined;
    out.push(picker?.pick(input(key, avoid))?.endpoint.address ?? 'none');
  }
  return out;
}

/** The model: what the set should be, and random changes to it. */
class Model {
  readonly set = new Map<string, Endpoint>();
  private next = 1;
  constructor(private readonly random: () => number) {}
  private pickAddress(): string | undefined {
    const keys = [...this.set.keys()];
    return keys.length === 0 ? undefined : keys[Math.floor(this.random() * keys.length)];
  }
  private newEndpoint(): Endpoint {
    const n = this.next++;
    return endpointFromAddress(`10.${(n >> 8) & 255}.${n & 255}.1:80`, 1 + Math.floor(this.random() * 4));
  }
  /** A random change of up to `max` endpoints, applied to the model. */
  change(max: number): EndpointChanges {
    const upserted = new Map<string, Endpoint>();
    const removed = new Set<string>();
    const k = 1 + Math.floor(this.random() * max);
    for (let i = 0; i < k; i++) {
      const r = this.random();
      const address = this.pickAddress();
      if (r < 0.35 || address === undefined) {
        const e = this.newEndpoint();
        this.set.set(e.address, e);
        upserted.set(e.address, e);
        removed.delete(e.address);
      } else if (r < 0.7) {
        this.set.delete(address);
        upserted.delete(address);
        removed.add(address);
      } else if (r < 0.9) {
        const old = this.set.get(address)!;
        const e = endpointFromAddress(address, 1 + Math.floor(this.random() * 4));
        if (e.weight === old.weight) continue;
        this.set.set(address, e);
        upserted.set(address, e);
      } else {
        const e = endpointFromAddress(address, this.set.get(address)!.weight, { zone: `z${Math.floor(this.random() * 3)}` });
        this.set.set(address, e);
        upserted.set(address, e);
      }
    }
    return { upserted: [...upserted.values()], removed: [...removed] };
  }
  /** The whole set, in a random order. */
  shuffled(): Endpoint[] {
    const out = [...this.set.values()];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}

const POLICIES: [string, BalancingPolicy<unknown>, unknown][] = [
  ['round_robin', roundRobinPolicy as BalancingPolicy<unknown>, {}],
  ['least_request', leastRequestPolicy as BalancingPolicy<unknown>, {}],
  ['ring_hash', ringHashPolicy as BalancingPolicy<unknown>, { ringSize: 64 }],
];

describe.each(POLICIES)('%s: an incrementally updated picker picks as one built from scratch', (_name, policy, options) => {
  for (const seed of [1, 2, 3]) {
    it(`over 150 random changes (seed ${seed})`, () => {
      const h = harness(policy, options);
      const random = createSeededRandom(seed);
      const model = new Model(random);
      for (let i = 0; i < 20; i++) model.change(1);
      h.resolver.send({ ok: true, endpoints: model.shuffled() });
      for (let round = 0; round < 150; round++) {
        // Random readiness: outlier ejection / health verdicts on the live BackendEndpoints.
        for (const e of h.backend.endpoints as BackendEndpoint[]) {
          const r = random();
          if (r < 0.1) e.ready = !e.ready;
          else if (r < 0.15) e.healthy = !e.healthy;
        }
        const previous = h.backend.picker;
        const draws = h.env.draws;
        const updateSeed = 1000 * seed + round;
        h.env.reseed(updateSeed);
        if (random() < 0.15) h.resolver.send({ ok: true, endpoints: model.shuffled() });
        else h.resolver.send({ ok: true, changes: model.change(random() < 0.1 ? 30 : 4) });
        // The backend holds exactly the model's set.
        const held = new Map(h.backend.endpoints.map((e) => [e.endpoint.address, e.endpoint]));
        expect(held).toEqual(model.set);
        expect(h.backend.endpoints).toHaveLength(model.set.size);
        const { upserted, removed } = h.backend.lastChanges;
        if (upserted.length + removed.length === 0) {
          // Nothing changed (a weight drawn equal, an unchanged whole set): the picker was left alone.
          expect(h.backend.picker).toBe(previous);
          expect(h.env.draws).toBe(draws);
          continue;
        }
        // From scratch over the same list, with the same draws (ring_hash: its previous snapshot, as Backends).
        const fresh = new SwitchEnv();
        fresh.reseed(updateSeed);
        fresh.nowMs = h.env.nowMs;
        const reference = policy.createPicker(h.backend.endpoints, options, fresh, previous);
        const addresses = [...model.set.keys()];
        expect(picks(h.backend.picker, round, 40, addresses)).toEqual(picks(reference, round, 40, addresses));
        if (policy === ringHashPolicy) expect(ringHashStats(h.backend.picker!)).toEqual(ringHashStats(reference));
      }
    });
  }
});

describe('Backends: incremental update edge cases', () => {
  const A = endpointFromAddress('10.0.0.1:80');
  const B = endpointFromAddress('10.0.0.2:80');
  const C = endpointFromAddress('10.0.0.3:80');

  it('removing the last endpoint leaves an empty list and a picker that picks nothing', () => {
    for (const [, policy, options] of POLICIES) {
      const h = harness(policy, options);
      h.resolver.send({ ok: true, endpoints: [A] });
      h.resolver.send({ ok: true, changes: { upserted: [], removed: [A.address] } });
      expect(h.backend.endpoints).toEqual([]);
      expect(h.backend.picker?.pick(input())).toBeUndefined();
      expect(h.removed).toEqual([A.address]);
      // And back.
      h.resolver.send({ ok: true, changes: { upserted: [B], removed: [] } });
      expect(h.backend.picker?.pick(input())?.endpoint).toBe(B);
    }
  });

  it('replaces every endpoint: only the new ones are picked, every old one is reported removed', () => {
    for (const [, policy, options] of POLICIES) {
      const h = harness(policy, options);
      h.resolver.send({ ok: true, endpoints: [A, B] });
      h.resolver.send({ ok: true, endpoints: [C] });
      expect(h.backend.endpoints.map((e) => e.endpoint)).toEqual([C]);
      expect(new Set(picks(h.backend.picker, 1, 20, [C.address]))).toEqual(new Set([C.address]));
      expect(h.removed.sort()).toEqual([A.address, B.address]);
      expect(h.backend.lastChanges.removed.slice().sort()).toEqual([A.address, B.address]);
    }
  });

  it('makes an endpoint\'s load on first use, decaying its default estimate from the endpoint\'s arrival', () => {
    const h = harness(roundRobinPolicy as BalancingPolicy<unknown>);
    h.env.nowMs = 1000;
    h.resolver.send({ ok: true, endpoints: [A, B] });
    const [a, b] = h.backend.endpoints as BackendEndpoint[];
    expect(a!.loadIfUsed).toBeUndefined(); // nothing called or compared it: no load held
    expect(b!.loadIfUsed).toBeUndefined();
    h.env.nowMs = 3000;
    const load = a!.load; // made now, as it would have been made at 1000
    expect(a!.loadIfUsed).toBe(load);
    expect(a!.load).toBe(load);
    expect(load.cost(3000)).toBeCloseTo(DEFAULT_RTT_MS * Math.exp(-2), 9);
    expect(createEndpointLoad({ nowMs: 3000 }).cost(3000)).toBe(DEFAULT_RTT_MS); // what first-use anchoring would give
    expect(b!.loadIfUsed).toBeUndefined();
  });

  it('a replacement of an endpoint nothing used keeps its arrival', () => {
    const h = harness(roundRobinPolicy as BalancingPolicy<unknown>);
    h.env.nowMs = 1000;
    h.resolver.send({ ok: true, endpoints: [A, B] });
    h.env.nowMs = 2000;
    h.resolver.send({ ok: true, changes: { upserted: [endpointFromAddress(B.address, 3)], removed: [] } });
    const newB = h.backend.endpoints[1] as BackendEndpoint;
    expect(newB.endpoint.weight).toBe(3);
    expect(newB.loadIfUsed).toBeUndefined();
    expect(newB.load.cost(3000)).toBeCloseTo(DEFAULT_RTT_MS * Math.exp(-2), 9);
  });

  it('a weight change replaces the endpoint in place, keeping its load and readiness, and re-weights round robin', () => {
    const h = harness(roundRobinPolicy as BalancingPolicy<unknown>);
    h.resolver.send({ ok: true, endpoints: [A, B] });
    const oldB = h.backend.endpoints[1] as BackendEndpoint;
    oldB.healthy = false;
    const oldLoad = oldB.load;
    oldLoad.start(0); // one call in flight on the old endpoint
    const picker = h.backend.picker;
    h.resolver.send({ ok: true, changes: { upserted: [endpointFromAddress(B.address, 3)], removed: [] } });
    const newB = h.backend.endpoints[1] as BackendEndpoint;
    expect(newB).not.toBe(oldB);
    expect(newB.load).toBe(oldLoad);
    expect(newB.load.inflight).toBe(1);
    expect(newB.healthy).toBe(false);
    expect(h.backend.picker).toBe(picker); // updated in place
    newB.healthy = true;
    const counts = new Map<string, number>();
    for (const a of picks(h.backend.picker, 0, 400, [])) counts.set(a, (counts.get(a) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({ [A.address]: 100, [B.address]: 300 });
  });

  it('the same set again does no work: no step, no new picker, no random draw, no removal', () => {
    for (const [, policy, options] of POLICIES) {
      const h = harness(policy, options);
      h.resolver.send({ ok: true, endpoints: [A, B, C] });
      const picker = h.backend.picker;
      const list = h.backend.endpoints.slice();
      const draws = h.env.draws;
      h.resolver.send({ ok: true, endpoints: [C, endpointFromAddress(A.address), B] }); // equal, not identical
      h.resolver.send({ ok: true, changes: { upserted: [], removed: [] } });
      h.resolver.send({ ok: true, changes: { upserted: [B], removed: ['10.9.9.9:80'] } }); // nothing new
      expect(h.backend.picker).toBe(picker);
      expect(h.backend.endpoints).toEqual(list);
      expect(h.backend.endpoints.every((e, i) => e === list[i])).toBe(true);
      expect(h.env.draws).toBe(draws);
      expect(h.removed).toEqual([]);
      expect(h.backend.lastChanges).toEqual({ upserted: [], removed: [] });
    }
  });

  it('an error keeps the endpoints and the picker, and reports no change', () => {
    const h = harness(leastRequestPolicy as BalancingPolicy<unknown>);
    h.resolver.send({ ok: true, endpoints: [A, B] });
    const picker = h.backend.picker;
    h.resolver.send({ ok: false, error: new Error('agent down') });
    expect(h.backend.picker).toBe(picker);
    expect(h.backend.endpoints).toHaveLength(2);
    expect(h.backend.lastError?.message).toBe('agent down');
    expect(h.backend.lastChanges).toEqual({ upserted: [], removed: [] });
  });
});

describe('updatePicker on its own (pure)', () => {
  /** Applies `steps` to a copy of `list` the way Backends does. */
  const applied = (list: readonly PickerEndpoint[], steps: readonly EndpointListStep[]): PickerEndpoint[] => {
    const out = list.slice();
    for (const s of steps) {
      if (s.kind === 'push') out.push(s.endpoint);
      else if (s.kind === 'set') out[s.index] = s.endpoint;
      else {
        out[s.index] = out[out.length - 1]!;
        out.pop();
      }
    }
    return out;
  };

  it.each(POLICIES)('%s: follows random steps, growing past its arrays and back to empty', (_name, policy, options) => {
    const random = createSeededRandom(42);
    let list: PickerEndpoint[] = [];
    const env = new SwitchEnv();
    let picker = policy.createPicker(list, options, env);
    let next = 0;
    for (let round = 0; round < 300; round++) {
      const steps: EndpointListStep[] = [];
      let size = list.length;
      const drain = round >= 280;
      const count = drain ? list.length : 1 + Math.floor(random() * 6);
      for (let k = 0; k < count; k++) {
        const r = random();
        if (!drain && (r < 0.5 || size === 0)) {
          steps.push({ kind: 'push', endpoint: testEndpoint(`10.1.${next >> 8}.${next++ & 255}:80`, 1 + Math.floor(random() * 3), random() > 0.1) });
          size++;
        } else if (size > 0 && (drain || r < 0.8)) {
          steps.push({ kind: 'remove', index: Math.floor(random() * size) });
          size--;
        } else if (size > 0) {
          // Another weight for the same address, or another address.
          const index = Math.floor(random() * size);
          const address = random() < 0.5 ? applied(list, steps)[index]!.endpoint.address : `10.2.${next >> 8}.${next++ & 255}:80`;
          steps.push({ kind: 'set', index, endpoint: testEndpoint(address, 1 + Math.floor(random() * 4)) });
        }
      }
      list = applied(list, steps);
      env.reseed(round);
      const previous = picker;
      picker = policy.updatePicker!(picker, steps, list, options, env);
      const fresh = new SwitchEnv();
      fresh.reseed(round);
      // ring_hash keeps its scale from the snapshot it replaces, so its reference is built with that snapshot.
      const reference = policy.createPicker(list, options, fresh, policy === ringHashPolicy ? previous : undefined);
      const addresses = list.map((e) => e.endpoint.address);
      expect(picks(picker, round, 25, addresses)).toEqual(picks(reference, round, 25, addresses));
    }
    expect(list).toEqual([]);
    expect(picker.pick(input())).toBeUndefined();
  });

  it('rejects a step outside the list with a RangeError naming it', () => {
    const picker = roundRobinPolicy.createPicker([testEndpoint('10.0.0.1:80')], {}, new SwitchEnv());
    expect(() => roundRobinPolicy.updatePicker!(picker, [{ kind: 'remove', index: 1 }], [], {}, new SwitchEnv())).toThrow(
      /remove at 1: the list has 1 endpoints/,
    );
  });
});
