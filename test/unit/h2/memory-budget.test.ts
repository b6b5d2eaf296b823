// SPDX-License-Identifier: Apache-2.0
// The shared stream memory budget (src/h2/memory-budget.ts) and the refusal guard (src/h2/guards.ts).

import { describe, expect, it } from 'vitest';
import { REFUSALS_MAX, RefusalGuard } from '../../../src/h2/guards.js';
import { MemoryBudget, STREAM_RESERVE_BYTES } from '../../../src/h2/memory-budget.js';

describe('MemoryBudget', () => {
  it('reserves while the budget allows, refuses past it, and takes back what is released', () => {
    const b = new MemoryBudget(2 * STREAM_RESERVE_BYTES);
    expect(b.reserve(STREAM_RESERVE_BYTES)).toBe(true);
    expect(b.reserve(STREAM_RESERVE_BYTES)).toBe(true);
    expect(b.reserve(STREAM_RESERVE_BYTES)).toBe(false);
    expect(b.usedBytes).toBe(2 * STREAM_RESERVE_BYTES);
    b.release(STREAM_RESERVE_BYTES);
    expect(b.reserve(STREAM_RESERVE_BYTES)).toBe(true);
  });

  it('data already held counts even past the budget, and blocks reservations until released', () => {
    const b = new MemoryBudget(10_000);
    b.hold(20_000);
    expect(b.reserve(1)).toBe(false);
    b.release(20_000);
    expect(b.reserve(1)).toBe(true);
  });

  it('0 means unlimited', () => {
    const b = new MemoryBudget(0);
    expect(b.limitBytes).toBe(Infinity);
    expect(b.reserve(2 ** 40)).toBe(true);
  });
});

describe('RefusalGuard', () => {
  it(`trips once, on the ${REFUSALS_MAX}th refusal`, () => {
    const g = new RefusalGuard();
    let trips = 0;
    for (let i = 0; i < REFUSALS_MAX * 2; i++) if (g.onRefused()) trips++;
    expect(trips).toBe(1);
    expect(g.reason('max_concurrent_streams')).toMatch(/refused \(last: max concurrent streams\)/);
  });
});
