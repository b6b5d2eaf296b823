// SPDX-License-Identifier: Apache-2.0
// Token bucket: burst, refill on an injected clock, wait estimates, guards.
import { describe, expect, it } from 'vitest';
import { createTokenBucket } from '../../../src/ratelimit/token-bucket.js';

function clock(start = 1000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms), set: (v: number) => void (t = v) };
}

describe('createTokenBucket', () => {
  it('allows a burst of `capacity` takes, then refuses until a token refills', () => {
    const c = clock();
    const b = createTokenBucket({ capacity: 2, refillPerSecond: 1 / 15, now: c.now });
    expect(b.tryTake()).toBe(true);
    expect(b.tryTake()).toBe(true);
    expect(b.tryTake()).toBe(false);
    c.advance(14_999);
    expect(b.tryTake()).toBe(false);
    c.advance(1);
    expect(b.tryTake()).toBe(true);
    expect(b.tryTake()).toBe(false);
  });

  it('reports the wait until the next token, rounded up so taking after it succeeds', () => {
    const c = clock();
    const b = createTokenBucket({ capacity: 2, refillPerSecond: 3, now: c.now });
    b.tryTake(2);
    expect(b.msUntilAvailable()).toBe(334); // 1/3 s, rounded up
    c.advance(b.msUntilAvailable());
    expect(b.msUntilAvailable()).toBe(0);
    expect(b.tryTake()).toBe(true);
  });

  it('never holds more than capacity however long it idles', () => {
    const c = clock();
    const b = createTokenBucket({ capacity: 2, refillPerSecond: 1, now: c.now });
    c.advance(3_600_000);
    expect(b.available()).toBe(2);
    expect(b.tryTake(2)).toBe(true);
    expect(b.tryTake()).toBe(false);
  });

  it('takes nothing when a multi-token take cannot be served in full', () => {
    const c = clock();
    const b = createTokenBucket({ capacity: 5, refillPerSecond: 1, initialTokens: 2, now: c.now });
    expect(b.tryTake(3)).toBe(false);
    expect(b.available()).toBe(2);
  });

  it('answers Infinity for a take larger than the capacity', () => {
    const b = createTokenBucket({ capacity: 2, refillPerSecond: 1, now: () => 0 });
    expect(b.msUntilAvailable(3)).toBe(Infinity);
    expect(b.tryTake(3)).toBe(false);
  });

  it('adds nothing for a backwards clock step and refills from the new reading (no stall)', () => {
    const c = clock(10_000);
    const b = createTokenBucket({ capacity: 1, refillPerSecond: 1, now: c.now });
    b.tryTake();
    c.set(5_000); // wall clock stepped back 5 s
    expect(b.available()).toBe(0);
    c.set(5_500);
    expect(b.available()).toBeCloseTo(0.5);
  });

  it('starts with initialTokens', () => {
    const b = createTokenBucket({ capacity: 2, refillPerSecond: 1, initialTokens: 0, now: () => 0 });
    expect(b.tryTake()).toBe(false);
  });

  it.each([
    [{ capacity: 0, refillPerSecond: 1 }],
    [{ capacity: 1, refillPerSecond: 0 }],
    [{ capacity: 1, refillPerSecond: Infinity }],
    [{ capacity: 1, refillPerSecond: 1, initialTokens: 2 }],
  ])('rejects the invalid configuration %j', (opts) => {
    expect(() => createTokenBucket({ ...opts, now: () => 0 })).toThrow(RangeError);
  });
});
