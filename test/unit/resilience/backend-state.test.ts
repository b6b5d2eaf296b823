// SPDX-License-Identifier: Apache-2.0
// Per-backend resilience state: created lazily with the settings in force, carried over a policy swap by key.
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/policy/load.js';
import type { Policy } from '../../../src/policy/schema.js';
import { PolicyStore } from '../../../src/policy/store.js';
import { BackendStates } from '../../../src/resilience/backend-state.js';

function policy(yaml: string): Policy {
  const r = parsePolicy('p.yaml', yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

describe('BackendStates', () => {
  it('carries limiter counts, breaker state and outlier ejections across a swap, reconfigured with the new values', () => {
    const store = new PolicyStore(
      policy(`
backends:
  a:
    limits: { mode: enforce, maxConcurrentRequests: 1 }
    circuitBreaker: { mode: enforce, windowCalls: 4, minimumCalls: 2 }
    outlierDetection: { consecutiveFailures: 1 }
`),
    );
    const states = new BackendStates(store, { random: () => 0, now: () => 0 });
    const a = states.backend('a');
    expect(a.limiter.tryAcquire(undefined)).toBe('admitted');
    a.breaker.record('failure', 0);
    a.breaker.record('failure', 0);
    a.outlier.record('10.0.0.1:1', 'failure', 0, 4);
    store.swap(policy('backends:\n  a:\n    limits: { mode: enforce, maxConcurrentRequests: 2 }\n    circuitBreaker: { mode: enforce }\n'));
    expect(states.backend('a')).toBe(a);
    expect(a.policy.limits.maxConcurrentRequests).toBe(2);
    expect(a.limiter.inflight).toBe(1);
    expect(a.limiter.tryAcquire(undefined)).toBe('admitted');
    expect(a.limiter.tryAcquire(undefined)).toBe('max_requests');
    expect(a.breaker.state).toBe('open');
    expect(a.outlier.get('10.0.0.1:1').health).toBe('ejected');
  });

  it('creates backend state lazily with the settings in force', () => {
    const store = new PolicyStore(policy('routes: []\n'));
    const states = new BackendStates(store);
    store.swap(policy('backends:\n  b:\n    retryBudget: { retryPercent: 50, minRetriesPerSecond: 0 }\n'));
    const b = states.backend('b');
    for (let i = 0; i < 10; i++) b.budget.deposit(0);
    expect(b.budget.available(0)).toBe(5);
  });

  it('reconfigures the state before listeners registered after it run', () => {
    const store = new PolicyStore(policy('backends:\n  a:\n    limits: { maxConcurrentRequests: 1 }\n'));
    const states = new BackendStates(store);
    const a = states.backend('a');
    const seen: number[] = [];
    store.onSwap(() => seen.push(a.policy.limits.maxConcurrentRequests));
    store.swap(policy('backends:\n  a:\n    limits: { maxConcurrentRequests: 3 }\n'));
    expect(seen).toEqual([3]);
  });
});
