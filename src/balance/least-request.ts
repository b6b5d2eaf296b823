// SPDX-License-Identifier: Apache-2.0
// least_request: power of two choices over peak-EWMA cost (Linkerd's BalanceP2c + PeakEwma), the default
// policy. A pure picker used by the balance layer once per request attempt.

import { registerPolicy } from './registry.js';
import { effectiveWeight } from './picker.js';
import type { BalancingPolicy, Picker, PickerEndpoint, PickerEnv, PickInput } from './picker.js';

/** least_request has no options (the EWMA parameters belong to `createEndpointLoad`); any object is accepted. */
export type LeastRequestOptions = object;

/** Rejection-sampling attempts before a draw falls back to an exact O(endpoints) scan. */
const MAX_DRAWS = 4;

/**
 * Power of two choices (Mitzenmacher; Linkerd `BalanceP2c`, Envoy LEAST_REQUEST with choice_count 2):
 * 1. Draw one eligible endpoint (ready, not in `avoid`) at random, with probability proportional to its weight.
 * 2. Draw a second one the same way among the others.
 * 3. Return the one with the lower `load.cost(env.now())` = peak-EWMA latency x (in-flight + 1) (see
 *    endpoint-load.ts); on a tie, the first draw (itself random).
 * 4. With one eligible endpoint, return it; with none, retry steps 1-3 ignoring `avoid`; with no ready endpoint
 *    at all, return undefined.
 *
 * Why two random choices rather than the global minimum: every sidecar sees only its own load, and
 * many sidecars all sending to "the least loaded" endpoint would herd onto it; two choices keep most of the
 * benefit while spreading traffic (a slow endpoint still gets an occasional request, which refreshes its
 * estimate). Weights bias the draws only; costs are compared unweighted.
 *
 * Cost: a draw is O(log endpoints) (O(1) when weights are equal) while most endpoints are eligible; after
 * MAX_DRAWS rejected draws it scans once, exactly preserving the weighted distribution. No allocation per pick.
 */
export const leastRequestPolicy: BalancingPolicy<LeastRequestOptions> & { readonly name: 'least_request' } = {
  name: 'least_request',
  createPicker(endpoints: readonly PickerEndpoint[], _options: LeastRequestOptions, env: PickerEnv): Picker {
    return new LeastRequestPicker(endpoints, env);
  },
};

/** Registers `least_request` (called by app.ts at startup). */
export function setup(): void {
  registerPolicy(leastRequestPolicy);
}

class LeastRequestPicker implements Picker {
  private readonly endpoints: readonly PickerEndpoint[];
  private readonly weights: Float64Array;
  /** cumulative[i] = weights[0] + ... + weights[i]. */
  private readonly cumulative: Float64Array;
  private readonly totalWeight: number;
  private readonly uniform: boolean;

  constructor(
    endpoints: readonly PickerEndpoint[],
    private readonly env: PickerEnv,
  ) {
    const n = endpoints.length;
    this.endpoints = endpoints.slice();
    this.weights = new Float64Array(n);
    this.cumulative = new Float64Array(n);
    let total = 0;
    let uniform = true;
    for (let i = 0; i < n; i++) {
      const w = effectiveWeight(endpoints[i]!.endpoint);
      this.weights[i] = w;
      total += w;
      this.cumulative[i] = total;
      if (w !== this.weights[0]) uniform = false;
    }
    this.totalWeight = total;
    this.uniform = uniform;
  }

  pick(input: PickInput): PickerEndpoint | undefined {
    const avoid = input.avoid !== undefined && input.avoid.size > 0 ? input.avoid : undefined;
    if (avoid !== undefined) {
      const chosen = this.choose(avoid);
      if (chosen !== undefined) return chosen;
    }
    return this.choose(undefined);
  }

  private choose(avoid: ReadonlySet<string> | undefined): PickerEndpoint | undefined {
    const a = this.draw(-1, avoid);
    if (a < 0) return undefined;
    const first = this.endpoints[a]!;
    const b = this.draw(a, avoid);
    if (b < 0) return first;
    const second = this.endpoints[b]!;
    const now = this.env.now();
    return second.load.cost(now) < first.load.cost(now) ? second : first;
  }

  private eligible(i: number, exclude: number, avoid: ReadonlySet<string> | undefined): boolean {
    if (i === exclude) return false;
    const e = this.endpoints[i]!;
    return e.ready && (avoid === undefined || !avoid.has(e.endpoint.address));
  }

  /** A weighted random eligible index other than `exclude`, or -1 if there is none. */
  private draw(exclude: number, avoid: ReadonlySet<string> | undefined): number {
    const n = this.endpoints.length;
    if (n === 0) return -1;
    const random = this.env.random;
    for (let t = 0; t < MAX_DRAWS; t++) {
      const i = this.uniform ? Math.floor(random() * n) : this.indexAt(random() * this.totalWeight);
      if (this.eligible(i, exclude, avoid)) return i;
    }
    // Many endpoints are ineligible: draw exactly from the eligible weight instead of rejecting more.
    let eligibleWeight = 0;
    let last = -1;
    for (let i = 0; i < n; i++) {
      if (this.eligible(i, exclude, avoid)) {
        eligibleWeight += this.weights[i]!;
        last = i;
      }
    }
    if (last < 0) return -1;
    let r = random() * eligibleWeight;
    for (let i = 0; i < last; i++) {
      if (!this.eligible(i, exclude, avoid)) continue;
      r -= this.weights[i]!;
      if (r < 0) return i;
    }
    return last;
  }

  /** The index whose cumulative-weight interval holds `x` (0 <= x < totalWeight): first i with cumulative[i] > x. */
  private indexAt(x: number): number {
    const cumulative = this.cumulative;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
