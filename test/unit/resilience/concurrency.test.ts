// SPDX-License-Identifier: Apache-2.0
// Envoy-style thresholds as a pure counter: admission, FIFO pending queue, cancel, retry slots, reconfigure.
import { describe, expect, it } from 'vitest';
import { createConcurrencyLimiter, type SlotWaiter } from '../../../src/resilience/concurrency.js';

const limits = (maxConcurrentRequests: number, maxPendingRequests = 0, maxConcurrentRetries = 3) => ({
  maxConcurrentRequests,
  maxPendingRequests,
  maxConcurrentRetries,
});

function waiter(log: string[], name: string): SlotWaiter {
  return { admit: () => log.push(name) };
}

describe('createConcurrencyLimiter', () => {
  it('admits up to maxConcurrentRequests, then fails with max_requests when no pending slot is allowed', () => {
    const l = createConcurrencyLimiter(limits(2));
    expect([l.tryAcquire(undefined), l.tryAcquire(undefined), l.tryAcquire(undefined)]).toEqual(['admitted', 'admitted', 'max_requests']);
    expect(l.inflight).toBe(2);
    l.release();
    expect(l.tryAcquire(undefined)).toBe('admitted');
  });

  it('queues up to maxPendingRequests in FIFO order and hands released slots to the oldest waiter', () => {
    const l = createConcurrencyLimiter(limits(1, 2));
    const admitted: string[] = [];
    expect(l.tryAcquire(undefined)).toBe('admitted');
    expect(l.tryAcquire(waiter(admitted, 'a'))).toBe('queued');
    expect(l.tryAcquire(waiter(admitted, 'b'))).toBe('queued');
    expect(l.tryAcquire(waiter(admitted, 'c'))).toBe('max_pending');
    expect(l.pending).toBe(2);
    l.release();
    expect(admitted).toEqual(['a']);
    expect(l.inflight).toBe(1);
    l.release();
    expect(admitted).toEqual(['a', 'b']);
    expect(l.pending).toBe(0);
    l.release();
    expect(l.inflight).toBe(0);
  });

  it('a cancelled waiter leaves the queue and never gets a slot', () => {
    const l = createConcurrencyLimiter(limits(1, 5));
    const admitted: string[] = [];
    l.tryAcquire(undefined);
    const a = waiter(admitted, 'a');
    l.tryAcquire(a);
    l.tryAcquire(waiter(admitted, 'b'));
    expect(l.cancel(a)).toBe(true);
    expect(l.cancel(a)).toBe(false);
    l.release();
    expect(admitted).toEqual(['b']);
  });

  it('counts retries against maxConcurrentRetries separately', () => {
    const l = createConcurrencyLimiter(limits(10, 0, 1));
    expect(l.tryAcquireRetry()).toBe(true);
    expect(l.tryAcquireRetry()).toBe(false);
    l.releaseRetry();
    expect(l.tryAcquireRetry()).toBe(true);
    expect(l.retriesInflight).toBe(1);
  });

  it('evaluate() answers like tryAcquire() without taking anything; forceAcquire() holds a slot regardless', () => {
    const l = createConcurrencyLimiter(limits(1));
    l.forceAcquire();
    l.forceAcquire();
    expect(l.evaluate()).toBe('max_requests');
    expect(l.inflight).toBe(2);
  });

  it('keeps its counts across reconfigure and admits waiters when the limit rises', () => {
    const l = createConcurrencyLimiter(limits(1, 3));
    const admitted: string[] = [];
    l.tryAcquire(undefined);
    l.tryAcquire(waiter(admitted, 'a'));
    l.tryAcquire(waiter(admitted, 'b'));
    l.reconfigure(limits(2, 3));
    expect(admitted).toEqual(['a']);
    expect(l.inflight).toBe(2);
    expect(l.pending).toBe(1);
  });

  it('throws on a release without a held slot (an invariant violation, not a degraded path)', () => {
    const l = createConcurrencyLimiter(limits(1));
    expect(() => l.release()).toThrow(/no slot/);
    expect(() => l.releaseRetry()).toThrow(/no retry slot/);
  });

  it('stays O(1) per operation with a long-lived queue (head compaction keeps admission order)', () => {
    const l = createConcurrencyLimiter(limits(1, 1000));
    const admitted: string[] = [];
    l.tryAcquire(undefined);
    for (let i = 0; i < 500; i++) l.tryAcquire(waiter(admitted, String(i)));
    for (let i = 0; i < 500; i++) l.release();
    expect(admitted).toEqual(Array.from({ length: 500 }, (_, i) => String(i)));
    expect(l.inflight).toBe(1);
  });
});
