// SPDX-License-Identifier: Apache-2.0
// The balancing policies by name, with each one's options typed: the lookup the balance wiring and tests use.

import type { BalancingConfig } from '../config/schema.js';
import type { LeastRequestOptions } from './least-request.js';
import type { BalancingPolicy } from './picker.js';
import { lookupPolicy, registeredPolicies } from './registry.js';
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
// If this fails to compile, src/config/schema.ts `balancingSchema.policy` and this map disagree.
export type NamesMatchConfig = AssertTrue<Same<BalancingPolicyName, BalancingConfig['policy']>>;

/**
 * The policy registered under `name`.
 * @throws Error when nothing is registered under `name`: a wiring bug (app.ts did not call that policy's
 *   setup()), since config validation only admits known names.
 */
export function getPolicy<N extends BalancingPolicyName>(name: N): BalancingPolicy<BalancingPolicyOptions[N]> {
  const policy = lookupPolicy(name);
  if (policy === undefined) {
    const known = registeredPolicies().join(', ') || 'none';
    throw new Error(`balancing policy "${name}" is not registered (registered: ${known}); call its setup() first`);
  }
  // Each setup() registers its own policy under its own name, so the options type follows from the name.
  return policy as unknown as BalancingPolicy<BalancingPolicyOptions[N]>;
}
