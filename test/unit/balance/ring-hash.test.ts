// SPDX-License-Identifier: Apache-2.0
// ring_hash: the hash function, ring size and weights, key stickiness across endpoint changes, readiness,
// avoid, and random picks without a key.

import { describe, expect, it } from 'vitest';
import type { Picker } from '../../../src/balance/picker.js';
import { murmur3_32, ringHashPolicy, ringHashStats } from '../../../src/balance/ring-hash.js';
import { roundRobinPolicy } from '../../../src/balance/round-robin.js';
import { countPicks, endpoint, endpoints, fakeEnv, input, type TestEndpoint } from './fixtures.js';

const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

function ring(eps: readonly TestEndpoint[], previous?: Picker, ringSize = 1024): Picker {
  return ringHashPolicy.createPicker(eps, { ringSize }, fakeEnv(3), previous);
}

function owners(picker: Picker, avoid?: readonly string[]): string[] {
  return KEYS.map((k) => picker.pick(input(k, avoid))?.endpoint.address ?? 'none');
}

function sameShare(a: readonly string[], b: readonly string[]): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

function shares(list: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const a of list) m.set(a, (m.get(a) ?? 0) + 1 / list.length);
  return m;
}

describe('murmur3_32', () => {
  // Reference vectors for MurmurHash3_x86_32 (UTF-8 input).
  it.each([
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    ['\0\0\0\0', 0, 0x2362f9de],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['aaa', 0x9747b28c, 0x283e0130],
    ['aa', 0x9747b28c, 0x5d211726],
    ['a', 0x9747b28c, 0x7fa09ea6],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['ππππππππ', 0x9747b28c, 0xd58063c1],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
  ])('hashes %j with seed %d to the reference value', (key, seed, expected) => {
    expect(murmur3_32(key, seed)).toBe(expected);
  });

  it('hashes code points beyond the BMP and lone surrogates as UTF-8 (like TextEncoder)', () => {
    // Same bytes, same hash: a surrogate pair is one 4-byte code point; a lone surrogate is U+FFFD.
    expect(murmur3_32('a\u{1F600}b')).toBe(murmur3_32('a\u{1F600}b'.normalize()));
    expect(murmur3_32('x\ud800y')).toBe(murmur3_32('x\ufffdy'));
    expect(murmur3_32('\u{1F600}')).not.toBe(murmur3_32('\ufffd\ufffd'));
  });
});

describe('ring_hash', () => {
  it('builds at least ringSize virtual nodes, in proportion to weight', () => {
    for (const ringSize of [64, 1024, 4096]) {
      expect(ringHashStats(ring(endpoints([1, 1, 1]), undefined, ringSize))!.nodes).toBeGreaterThanOrEqual(ringSize);
    }
    const weighted = ring(endpoints([1, 3]));
    const stats = ringHashStats(weighted)!;
    expect(stats.nodes).toBeGreaterThanOrEqual(1024);
    const s = shares(owners(weighted));
    expect(s.get('10.0.0.1:80')).toBeCloseTo(0.25, 1);
    expect(s.get('10.0.0.2:80')).toBeCloseTo(0.75, 1);
  });

  it('spreads keys roughly evenly over equal endpoints', () => {
    for (const share of shares(owners(ring(endpoints([1, 1, 1, 1])))).values()) {
      expect(share).toBeGreaterThan(0.2);
      expect(share).toBeLessThan(0.3);
    }
  });

  it('sends the same key to the same endpoint, whatever order the endpoints are listed in', () => {
    const eps = endpoints([1, 2, 1, 1]);
    const a = owners(ring(eps));
    expect(owners(ring(eps))).toEqual(a);
    expect(owners(ring(eps.slice().reverse()))).toEqual(a);
  });

  it('keeps > 60 % of 10 000 keys in place when a 4th endpoint joins, and moves the rest only to it', () => {
    const three = endpoints([1, 1, 1]);
    const before = ring(three);
    const fourth = endpoint('10.0.0.4:80');
    const after = ring([...three, fourth], before);
    const a = owners(before);
    const b = owners(after);
    const kept = sameShare(a, b);
    expect(kept).toBeGreaterThan(0.6);
    expect(kept).toBeCloseTo(0.75, 1);
    for (let i = 0; i < KEYS.length; i++) if (a[i] !== b[i]) expect(b[i]).toBe('10.0.0.4:80');
  });

  it('keeps > 60 % of keys when a 4th endpoint joins even without the previous snapshot', () => {
    const three = endpoints([1, 1, 1]);
    const kept = sameShare(owners(ring(three)), owners(ring([...three, endpoint('10.0.0.4:80')])));
    expect(kept).toBeGreaterThan(0.6);
  });

  it("moves only a removed endpoint's keys; every other key stays", () => {
    const four = endpoints([1, 1, 1, 1]);
    const before = ring(four);
    const after = ring(four.filter((_, i) => i !== 1), before);
    const a = owners(before);
    const b = owners(after);
    let moved = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (a[i] === '10.0.0.2:80') {
        expect(b[i]).not.toBe('10.0.0.2:80');
        moved++;
      } else {
        expect(b[i]).toBe(a[i]);
      }
    }
    expect(moved).toBeGreaterThan(1500);
    expect(ringHashStats(after)!.nodes).toBeGreaterThanOrEqual(1024);
  });

  it('rebuilds with a new scale when removals would leave fewer than ringSize virtual nodes', () => {
    const eight = endpoints([1, 1, 1, 1, 1, 1, 1, 1]);
    let picker = ring(eight);
    for (let n = 7; n >= 1; n--) {
      picker = ring(eight.slice(0, n), picker);
      expect(ringHashStats(picker)!.nodes).toBeGreaterThanOrEqual(1024);
    }
  });

  it('does not reuse a previous snapshot built with another ringSize or by another policy', () => {
    const eps = endpoints([1, 1, 1]);
    const small = ring(eps, undefined, 64);
    expect(ringHashStats(ring(eps, small, 4096))!.nodes).toBeGreaterThanOrEqual(4096);
    const rr = roundRobinPolicy.createPicker(eps, {}, fakeEnv());
    expect(owners(ring(eps, rr))).toEqual(owners(ring(eps)));
    expect(ringHashStats(rr)).toBeUndefined();
  });

  it('walks to the next ready endpoint when the hashed one is not ready, leaving other keys in place', () => {
    const eps = endpoints([1, 1, 1, 1]);
    const picker = ring(eps);
    const a = owners(picker);
    eps[0]!.ready = false; // read at pick time: no rebuild
    const b = owners(picker);
    for (let i = 0; i < KEYS.length; i++) {
      if (a[i] === '10.0.0.1:80') expect(b[i]).not.toBe('10.0.0.1:80');
      else expect(b[i]).toBe(a[i]);
    }
    // The same keys go where they would go if the endpoint were removed.
    const removed = ring(eps.slice(1), picker);
    expect(owners(removed)).toEqual(b);
  });

  it('honours avoid like not-ready, and falls back to the avoided endpoint when it is the only ready one', () => {
    const eps = endpoints([1, 1, 1]);
    const picker = ring(eps);
    const a = owners(picker);
    const avoided = owners(picker, ['10.0.0.3:80']);
    eps[2]!.ready = false;
    expect(avoided).toEqual(owners(picker));
    expect(avoided.filter((x, i) => x !== a[i]).length).toBeGreaterThan(0);
    eps[2]!.ready = true;
    eps[0]!.ready = false;
    eps[1]!.ready = false;
    expect(new Set(owners(picker, ['10.0.0.3:80']))).toEqual(new Set(['10.0.0.3:80']));
  });

  it('picks at random without a hash key (like Envoy), spreading by ring share', () => {
    const counts = countPicks(ring(endpoints([1, 1, 1])), 3000, input(undefined));
    expect(counts.size).toBe(3);
    for (const n of counts.values()) expect(n).toBeGreaterThan(700);
  });

  it('returns undefined when no endpoint is ready, or there are none', () => {
    const eps = endpoints([1, 1]);
    for (const e of eps) e.ready = false;
    expect(ring(eps).pick(input('k'))).toBeUndefined();
    expect(ring([]).pick(input('k'))).toBeUndefined();
    expect(ring([]).pick(input(undefined))).toBeUndefined();
  });

  it('keeps its scale across an empty endpoint set, so a flap does not move keys', () => {
    const eps = endpoints([1, 1, 1]);
    const before = ring(eps);
    const after = ring([...eps, endpoint('10.0.0.9:80')], ring([], before));
    const a = owners(before);
    const moved = owners(after).filter((x, i) => x !== a[i]);
    expect(moved.length).toBeGreaterThan(0);
    expect(new Set(moved)).toEqual(new Set(['10.0.0.9:80']));
  });

  it.each([0, -1, 1.5, Number.NaN])('rejects ringSize %s', (ringSize) => {
    expect(() => ringHashPolicy.createPicker(endpoints([1]), { ringSize }, fakeEnv())).toThrow(RangeError);
  });
});
