// SPDX-License-Identifier: Apache-2.0
// least_request: power of two choices over peak-EWMA cost (Linkerd's BalanceP2c + PeakEwma), the default
// policy. A pure picker used by the balance layer once per request attempt.

import { registerPolicy } from './registry.js';
import { WeightedEndpointList } from './endpoint-list.js';
import type { BalancingPolicy, EndpointListStep, Picker, PickerEndpoint, PickerEnv, PickInput } from './picker.js';

/** least_request has no options (the EWMA parameters belong to `createEndpointLoad`); any object is accepted. */
export type LeastRequestOptions = object;

/** Rejection-sampling attempts before a draw falls back to an exact O(endpoints) scan. */
const MAX_DRAWS = 4;

/**
 * Power of two choices (Mitzenmacher; Linkerd `BalanceP2c`, Envoy LEAST_REQUEST with choice_count 2), weighted
 * the way Envoy's least_request weights hosts:
 * 1. Draw one eligible endpoint (ready, not in `avoid`) uniformly at random.
 * 2. Draw a second, different one the same way.
 * 3. Give each its effective weight `e = weight / cost`, where `cost = load.cost(env.now())` is the peak-EWMA
 *    latency x (in-flight + 1) (see endpoint-load.ts), and return the first with probability
 *    `e1 / (e1 + e2)`, else the second.
 * 4. With one eligible endpoint, return it; with none, retry steps 1-3 ignoring `avoid`; with no ready endpoint
 *    at all, return undefined.
 *
 * Weights: Envoy's least_request gives a host the dynamic weight
 * `load_balancing_weight / (active_requests + 1)^active_request_bias`, bias 1.0 by default
 * (https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/load_balancing_policies/least_request/v3/least_request.proto,
 * `active_request_bias`). `e` is that formula with bias 1 and the latency estimate as a second divisor. Between two
 * idle endpoints of equal latency the choice is exactly weight-proportional, so a two-endpoint backend with
 * weights 1:3 splits 1:3 (test/unit/balance/weighted-distribution.test.ts); with more endpoints the split is close
 * to, but not exactly, proportional (uniform draws do not know weights; drawing by weight as well would count
 * weights twice).
 *
 * Why the choice is proportional rather than "the cheaper one always wins": with two endpoints P2C always draws
 * the same pair, and a strict comparison would send nothing to an endpoint whose estimate is high (one slow call,
 * 185 ms) until the estimate had decayed below the other's, many seconds later: its estimate could not be
 * corrected by new samples because it got no calls. A proportional choice keeps every eligible endpoint's share
 * above zero (an endpoint 10x as expensive still gets about 1/11 of the pairs it is drawn in), so a one-off slow
 * call is forgotten after a few calls, while an endpoint that keeps failing (each failure is a 1000 ms sample)
 * stays near 1 %. Why two random choices rather than all endpoints: every sidecar sees only its own load; two
 * choices keep the per-pick cost O(1) and spread many sidecars' traffic.
 *
 * Cost: O(1) per pick while most endpoints are eligible; after MAX_DRAWS rejected draws it scans once. No
 * allocation per pick. An update (`updatePicker`) applies its steps in place, O(steps): the picker has no state
 * but the list (the loads are the endpoints' own).
 */
export const leastRequestPolicy: BalancingPolicy<LeastRequestOptions> & { readonly name: 'least_request' } = {
  name: 'least_request',
  createPicker(endpoints: readonly PickerEndpoint[], _options: LeastRequestOptions, env: PickerEnv): Picker {
    return new LeastRequestPicker(endpoints, env);
  },
  updatePicker(picker: Picker, steps: readonly EndpointListStep[], endpoints, _options, env): Picker {
    if (!(picker instanceof LeastRequestPicker)) return new LeastRequestPicker(endpoints, env);
    picker.update(steps, env);
    return picker;
  },
};

/** Registers `least_request` (called by app.ts at startup). */
export function setup(): void {
  registerPolicy(leastRequestPolicy);
}

class LeastRequestPicker implements Picker {
  private readonly list: WeightedEndpointList;
  /** The list's endpoints (the same array, changed in place by `update`). */
  private readonly endpoints: readonly PickerEndpoint[];

  constructor(
    endpoints: readonly PickerEndpoint[],
    private env: PickerEnv,
  ) {
    this.list = new WeightedEndpointList(endpoints);
    this.endpoints = this.list.endpoints;
  }

  /** Applies `steps` to the list; `env` replaces the one given at creation (as a new snapshot would take it). */
  update(steps: readonly EndpointListStep[], env: PickerEnv): void {
    this.list.apply(steps);
    this.env = env;
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
    // Effective weights weight / cost; costs are >= 1 µs (endpoint-load.ts), so both are finite and positive.
    const weights = this.list.weights;
    const e1 = weights[a]! / first.load.cost(now);
    const e2 = weights[b]! / second.load.cost(now);
    return this.env.random() * (e1 + e2) < e1 ? first : second;
  }

  private eligible(i: number, exclude: number, avoid: ReadonlySet<string> | undefined): boolean {
    if (i === exclude) return false;
    const e = this.endpoints[i]!;
    return e.ready && (avoid === undefined || !avoid.has(e.endpoint.address));
  }

  /** A uniformly random eligible index other than `exclude`, or -1 if there is none. */
  private draw(exclude: number, avoid: ReadonlySet<string> | undefined): number {
    const n = this.endpoints.length;
    if (n === 0) return -1;
    const random = this.env.random;
    for (let t = 0; t < MAX_DRAWS; t++) {
      const i = Math.floor(random() * n);
      if (this.eligible(i, exclude, avoid)) return i;
    }
    // Many endpoints are ineligible: draw exactly among the eligible ones instead of rejecting more.
    let count = 0;
    for (let i = 0; i < n; i++) if (this.eligible(i, exclude, avoid)) count++;
    if (count === 0) return -1;
    let k = Math.floor(random() * count);
    for (let i = 0; i < n; i++) {
      if (!this.eligible(i, exclude, avoid)) continue;
      if (k-- === 0) return i;
    }
    return -1;
  }
}
