// SPDX-License-Identifier: Apache-2.0
// The policy store: atomic swap, listeners told after the swap.
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
