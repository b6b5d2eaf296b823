// SPDX-License-Identifier: Apache-2.0
// The policy registry: every policy file's setup() registers it under its config name; lookups of unregistered
// names fail loudly.

import { beforeEach, describe, expect, it, vi } from 'vitest';

// The registry is module state: load a fresh copy per test.
async function fresh() {
  vi.resetModules();
  const store = await import('../../../src/balance/registry.js');
  const policies = await import('../../../src/balance/policies.js');
  const registry = { ...store, ...policies };
  const rr = await import('../../../src/balance/round-robin.js');
  const lr = await import('../../../src/balance/least-request.js');
  const rh = await import('../../../src/balance/ring-hash.js');
  return { registry, setups: [rr.setup, lr.setup, rh.setup] };
}

describe('balancing policy registry', () => {
  beforeEach(() => {
    vi.resetModules();
  });

  it('registers each policy under its config name when its setup() runs', async () => {
    const { registry, setups } = await fresh();
    expect(registry.registeredPolicies()).toEqual([]);
    for (const setup of setups) setup();
    expect(registry.registeredPolicies()).toEqual(['least_request', 'ring_hash', 'round_robin']);
    for (const name of ['least_request', 'ring_hash', 'round_robin'] as const) {
      expect(registry.getPolicy(name).name).toBe(name);
    }
  });

  it('throws, naming what is registered, when a policy was never set up', async () => {
    const { registry, setups } = await fresh();
    setups[0]!();
    expect(() => registry.getPolicy('ring_hash')).toThrow(/"ring_hash" is not registered \(registered: round_robin\)/);
  });

  it('lets setup() run twice (the later registration wins)', async () => {
    const { registry, setups } = await fresh();
    setups[1]!();
    const first = registry.getPolicy('least_request');
    setups[1]!();
    expect(registry.getPolicy('least_request')).toBe(first);
    expect(registry.registeredPolicies()).toEqual(['least_request']);
  });

  it('hands out policies whose pickers accept a BalancingConfig as options', async () => {
    const { registry, setups } = await fresh();
    for (const setup of setups) setup();
    const { endpoints, fakeEnv, input } = await import('./fixtures.js');
    const config = { policy: 'ring_hash', hashHeader: 'x-user', ringSize: 64 } as const;
    const picker = registry.getPolicy(config.policy).createPicker(endpoints([1, 1]), config, fakeEnv());
    expect(picker.pick(input('alice'))).toBeDefined();
  });
});
