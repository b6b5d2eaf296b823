// SPDX-License-Identifier: Apache-2.0
// The retry budget: ratio of requests plus a per-second floor, over a sliding window; old traffic expires.
import { describe, expect, it } from 'vitest';
import { createRetryBudget } from '../../../src/resilience/retry-budget.js';

const linkerd = { ratio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 };

describe('createRetryBudget', () => {
  it('allows the floor (minRetriesPerSecond x ttl) with no traffic at all', () => {
    const b = createRetryBudget(linkerd);
    let allowed = 0;
    while (b.tryWithdraw(0)) allowed++;
    expect(allowed).toBe(100);
  });

  it('allows at most ratio x requests + floor within one window', () => {
    const b = createRetryBudget({ ratio: 0.2, minRetriesPerSecond: 1, ttlMs: 10_000 });
    for (let i = 0; i < 1000; i++) b.deposit(i);
    let allowed = 0;
    while (b.tryWithdraw(1000)) allowed++;
    expect(allowed).toBe(200 + 10);
  });

  it('never lends old traffic to new failures: requests older than the window no longer count', () => {
    const b = createRetryBudget({ ratio: 0.5, minRetriesPerSecond: 0, ttlMs: 10_000 });
    for (let i = 0; i < 100; i++) b.deposit(0);
    expect(b.available(5000)).toBe(50);
    expect(b.available(10_999)).toBe(0);
    // And after a long idle period, however long.
    for (let i = 0; i < 100; i++) b.deposit(20_000);
    expect(b.available(1_000_000)).toBe(0);
  });

  it('slides slice by slice: part of the window expires, the rest still counts', () => {
    const b = createRetryBudget({ ratio: 1, minRetriesPerSecond: 0, ttlMs: 10_000 });
    for (let i = 0; i < 10; i++) b.deposit(0);
    for (let i = 0; i < 10; i++) b.deposit(5000);
    expect(b.available(9999)).toBe(20);
    expect(b.available(10_000)).toBe(10);
  });

  it('counts withdrawn retries, so a storm spends the budget and a quiet period refills it', () => {
    const b = createRetryBudget({ ratio: 0.2, minRetriesPerSecond: 0, ttlMs: 1000 });
    for (let i = 0; i < 50; i++) b.deposit(0);
    let spent = 0;
    while (b.tryWithdraw(0)) spent++;
    expect(spent).toBe(10);
    expect(b.tryWithdraw(500)).toBe(false);
    for (let i = 0; i < 50; i++) b.deposit(1500);
    expect(b.tryWithdraw(1500)).toBe(true);
  });

  it('forceWithdraw (shadow) counts the retry and reports whether the budget would have allowed it', () => {
    const b = createRetryBudget({ ratio: 0, minRetriesPerSecond: 1, ttlMs: 1000 });
    expect(b.forceWithdraw(0)).toBe(true);
    expect(b.forceWithdraw(0)).toBe(false);
    expect(b.available(0)).toBe(0);
  });

  it('ignores a clock step backwards', () => {
    const b = createRetryBudget({ ratio: 1, minRetriesPerSecond: 0, ttlMs: 1000 });
    b.deposit(5000);
    expect(b.available(4000)).toBe(1);
  });
});
