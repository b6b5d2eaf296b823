// SPDX-License-Identifier: Apache-2.0
// The balancing policy registry: each policy file's setup() registers itself here under its config name
// (`balancing.policy`); policies.ts looks the configured one up with its options typed. app.ts calls every setup().
// Knows no policy by name, so the policy files can import it without a cycle.

import type { BalancingPolicy } from './picker.js';

// `never` options: any policy fits (its createPicker accepts some options type), and nothing can call it unchecked.
const policies = new Map<string, BalancingPolicy<never>>();

/**
 * Registers `policy` under `policy.name`. Registering a name again replaces the earlier policy (so calling a
 * setup() twice, as tests do, is harmless). Call at startup, before the first lookup.
 */
export function registerPolicy(policy: BalancingPolicy<never> & { readonly name: string }): void {
  policies.set(policy.name, policy);
}

/** The policy registered under `name`, untyped; `getPolicy` in policies.ts types it by name. */
export function lookupPolicy(name: string): BalancingPolicy<never> | undefined {
  return policies.get(name);
}

/** Names of the registered policies, sorted (for /config and error messages). */
export function registeredPolicies(): string[] {
  return [...policies.keys()].sort();
}
