// SPDX-License-Identifier: Apache-2.0
// The current policy snapshot: layers read `store.current()` per call; a reload swaps the compiled policy
// atomically and tells the listeners (resilience/backend-state.ts reconfigures the per-backend state there).
// Pure: no I/O, no timers.

import { CompiledPolicy } from './match.js';
import type { Policy } from './schema.js';

/** Called after every swap with the new snapshot. */
export type SwapListener = (next: CompiledPolicy, previous: CompiledPolicy) => void;

/**
 * Holds the current compiled policy.
 *
 * Swap protocol: `swap(policy)` compiles first (throws nothing: the policy was validated by the loader), then
 * replaces the snapshot in one assignment, then tells the listeners in the order they registered. A call in
 * flight keeps what it already decided (its admitted slot, its deadline); its later decisions read the new
 * snapshot.
 */
export class PolicyStore {
  private snapshot: CompiledPolicy;
  private readonly listeners: SwapListener[] = [];
  /** Incremented by every swap. */
  version = 1;

  constructor(policy: Policy) {
    this.snapshot = new CompiledPolicy(policy);
  }

  /** The current compiled policy. Read it per call; never keep it across calls. */
  current(): CompiledPolicy {
    return this.snapshot;
  }

  /** Replaces the policy atomically, then calls every listener with the new and the previous snapshot. */
  swap(policy: Policy): void {
    const previous = this.snapshot;
    const next = new CompiledPolicy(policy);
    this.snapshot = next;
    this.version++;
    for (const l of this.listeners) l(next, previous);
  }

  /** Registers a listener for swaps (called after those registered before it); returns the function that removes it. */
  onSwap(listener: SwapListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }
}
