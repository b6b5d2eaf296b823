// SPDX-License-Identifier: Apache-2.0
// The balancing policy registry: each policy file's setup() registers itself here under its config name
// (`balancing.policy`); the balance layer looks the configured one up. app.ts calls every setup().

import type { BalancingConfig } from '../config/schema.js';
import type { LeastRequestOptions } from './least-request.js';
import type { BalancingPolicy } from './picker.js';
import type { RingHashOptions } from './ring-hash.js';
import type { RoundRobinOptions } from './round-robin.js';

/**
 * The options each policy's `createPicker` takes, by policy name. A backend's `BalancingConfig` satisfies all of
 * them, so the balance layer may pass it as is.
 */
export interface BalancingPolicyOptions {
  round_robin: RoundRobinOptions;
  least_request: LeastRequestOptions;
  ring_hash: RingHashOptions;
}

/** A policy name; the same set as `balancing.policy` in the bootstrap schema (checked at compile time below). */
export type BalancingPolicyName = keyof BalancingPolicyOptions;

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type AssertTrue<T extends true> = T;
// If this fails to compile, src/config/schema.ts `balancingSchema.policy` and this registry disagree.
export type NamesMatchConfig = AssertTrue<Same<BalancingPolicyName, BalancingConfig['policy']>>;

const policies = new Map<string, BalancingPolicy<unknown>>();

/**
 * Registers `policy` under `policy.name`. Registering a name again replaces the earlier policy (so calling a
 * setup() twice, as tests do, is harmless). Call at startup, before the first `getPolicy`.
 */
export function registerPolicy<N extends BalancingPolicyName>(
  policy: BalancingPolicy<BalancingPolicyOptions[N]> & { readonly name: N },
): void {
  policies.set(policy.name, policy as BalancingPolicy<unknown>);
}

/**
 * The policy registered under `name`.
 * @throws Error when nothing is registered under `name`: a wiring bug (app.ts did not call that policy's
 *   setup()), since config validation only admits known names.
 */
export function getPolicy<N extends BalancingPolicyName>(name: N): BalancingPolicy<BalancingPolicyOptions[N]> {
  const policy = policies.get(name);
  if (policy === undefined) {
    const known = [...policies.keys()].sort().join(', ') || 'none';
    throw new Error(`balancing policy "${name}" is not registered (registered: ${known}); call its setup() first`);
  }
  return policy as BalancingPolicy<BalancingPolicyOptions[N]>;
}

/** Names of the registered policies, sorted (for /config and error messages). */
export function registeredPolicies(): string[] {
  return [...policies.keys()].sort();
}
