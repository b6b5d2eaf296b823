// SPDX-License-Identifier: Apache-2.0
// Evidence for docs/decisions.md "Resilience state machines: our own, with cockatiel's CountBreaker as the
// failure-rate window" (issue 4). Each assertion pins a cockatiel 3.2.1 behaviour the decision rests on; if one
// fails after an upgrade, re-read that section.
import { CircuitState, ConsecutiveBreaker, CountBreaker, SamplingBreaker, circuitBreaker, handleAll } from 'cockatiel';
import { afterEach, describe, expect, it, vi } from 'vitest';

afterEach(() => {
  vi.useRealTimers();
});

describe('cockatiel 3.2.1', () => {
  it('CircuitBreakerPolicy moves Open → HalfOpen only inside execute(): reading the state never probes', async () => {
    vi.useFakeTimers();
    const policy = circuitBreaker(handleAll, { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(1) });
    await policy.execute(() => Promise.reject(new Error('down'))).catch(() => undefined);
    expect(policy.state).toBe(CircuitState.Open);
    vi.advanceTimersByTime(60_000);
    // A picker that only reads `state` would keep this endpoint out forever.
    expect(policy.state).toBe(CircuitState.Open);
    await policy.execute(() => Promise.resolve('ok'));
    expect(policy.state).toBe(CircuitState.Closed);
  });

  it('SamplingBreaker reads Date.now() itself (no injectable clock) and keeps windows older than its duration after idle', () => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
    const b = new SamplingBreaker({ threshold: 0.5, duration: 5000, minimumRps: 1 });
    for (let t = 0; t < 5000; t += 100) {
      vi.setSystemTime(t);
      b.failure(CircuitState.Closed);
    }
    // An hour later: 10 successes and 1 failure. Over "the last 5 s" that is 9 % failures, yet it opens,
    // because only one stale window is rotated out per call.
    vi.setSystemTime(3_600_000);
    for (let i = 0; i < 10; i++) b.success(CircuitState.Closed);
    expect(b.failure(CircuitState.Closed)).toBe(true);
  });

  it('CountBreaker is clock-free: the same outcomes give the same decision at any time', () => {
    const decide = (): boolean[] => {
      const b = new CountBreaker({ threshold: 0.5, size: 10, minimumNumberOfCalls: 4 });
      const out: boolean[] = [];
      for (const ok of [true, false, true, false, false, false]) {
        if (ok) b.success(CircuitState.Closed);
        else out.push(b.failure(CircuitState.Closed));
      }
      return out;
    };
    vi.useFakeTimers();
    vi.setSystemTime(0);
    const early = decide();
    vi.setSystemTime(10 ** 12);
    expect(decide()).toEqual(early);
    expect(early).toEqual([false, false, true, true]);
  });
});
