// SPDX-License-Identifier: Apache-2.0
// The policy store: atomic swap, per-backend state carried over by key, listeners told after the swap.
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/policy/load.js';
import type { Policy } from '../../../src/policy/schema.js';
import { PolicyStore } from '../../../src/policy/store.js';

function policy(yaml: string): Policy {
  const r = parsePolicy('p.yaml', yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

describe('PolicyStore', () => {
  it('swaps the compiled policy atomically and bumps the version', () => {
    const store = new PolicyStore(policy('defaults: { timeoutMs: 100 }\n'));
    const before = store.current();
    store.swap(policy('defaults: { timeoutMs: 200 }\n'));
    expect(store.current()).not.toBe(before);
    expect(store.current().route('a', '/x.Y/Z').policy.timeoutMs).toBe(200);
    expect(before.route('a', '/x.Y/Z').policy.timeoutMs).toBe(100);
    expect(store.version).toBe(2);
  });

  it('carries limiter counts, breaker state and outlier ejections across a swap, reconfigured with the new values', () => {
    const store = new PolicyStore(
      policy(`
backends:
  a:
    limits: { mode: enforce, maxConcurrentRequests: 1 }
    circuitBreaker: { mode: enforce, windowCalls: 4, minimumCalls: 2 }
    outlierDetection: { consecutiveFailures: 1 }
`),
      { random: () => 0, now: () => 0 },
    );
    const a = store.backend('a');
    expect(a.limiter.tryAcquire(undefined)).toBe('admitted');
    a.breaker.record('failure', 0);
    a.breaker.record('failure', 0);
    a.outlier.record('10.0.0.1:1', 'failure', 0, 4);
    store.swap(policy('backends:\n  a:\n    limits: { mode: enforce, maxConcurrentRequests: 2 }\n    circuitBreaker: { mode: enforce }\n'));
    expect(store.backend('a')).toBe(a);
    expect(a.policy.limits.maxConcurrentRequests).toBe(2);
    expect(a.limiter.inflight).toBe(1);
    expect(a.limiter.tryAcquire(undefined)).toBe('admitted');
    expect(a.limiter.tryAcquire(undefined)).toBe('max_requests');
    expect(a.breaker.state).toBe('open');
    expect(a.outlier.get('10.0.0.1:1').health).toBe('ejected');
  });

  it('creates backend state lazily with the settings in force', () => {
    const store = new PolicyStore(policy('routes: []\n'));
    store.swap(policy('backends:\n  b:\n    retryBudget: { retryPercent: 50, minRetriesPerSecond: 0 }\n'));
    const b = store.backend('b');
    for (let i = 0; i < 10; i++) b.budget.deposit(0);
    expect(b.budget.available(0)).toBe(5);
  });

  it('tells listeners after the swap, with both snapshots', () => {
    const store = new PolicyStore(policy('routes: []\n'));
    const seen: number[] = [];
    const off = store.onSwap((next, previous) => {
      expect(store.current()).toBe(next);
      seen.push(next.route('a', '/x.Y/Z').policy.timeoutMs, previous.route('a', '/x.Y/Z').policy.timeoutMs);
    });
    store.swap(policy('defaults: { timeoutMs: 7 }\n'));
    off();
    store.swap(policy('defaults: { timeoutMs: 8 }\n'));
    expect(seen).toEqual([7, 0]);
  });
});
