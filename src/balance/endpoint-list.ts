// SPDX-License-Identifier: Apache-2.0
// The endpoint list a picker holds, with each endpoint's effective weight, kept in step with Backends' list by
// EndpointListSteps in O(steps) (issue 13). Shared by round_robin and least_request; a pure leaf.

import { effectiveWeight } from './picker.js';
import type { EndpointListStep, PickerEndpoint } from './picker.js';

/**
 * A picker's own copy of a backend's endpoints, in Backends' order, with `weights[i]` the effective weight of
 * `endpoints[i]` (the array is longer than the list: only `[0, endpoints.length)` is meaningful), and whether all
 * weights are equal. `apply` costs O(steps); the weight array doubles when it fills up.
 */
export class WeightedEndpointList {
  readonly endpoints: PickerEndpoint[];
  weights: Float64Array;
  /** How many endpoints have each weight: `uniform` in O(1) after any step. */
  private readonly weightCounts = new Map<number, number>();

  constructor(endpoints: readonly PickerEndpoint[]) {
    const n = endpoints.length;
    this.endpoints = endpoints.slice();
    this.weights = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const w = effectiveWeight(endpoints[i]!.endpoint);
      this.weights[i] = w;
      this.count(w, 1);
    }
  }

  /** True when every endpoint has the same weight (also when there are none). */
  get uniform(): boolean {
    return this.weightCounts.size <= 1;
  }

  /** Applies `steps` in order (see EndpointListStep). Throws a RangeError on an index outside the list. */
  apply(steps: readonly EndpointListStep[]): void {
    const eps = this.endpoints;
    for (const step of steps) {
      if (step.kind === 'push') {
        const n = eps.length;
        if (n === this.weights.length) {
          const grown = new Float64Array(Math.max(4, n * 2));
          grown.set(this.weights);
          this.weights = grown;
        }
        const w = effectiveWeight(step.endpoint.endpoint);
        eps.push(step.endpoint);
        this.weights[n] = w;
        this.count(w, 1);
        continue;
      }
      const i = step.index;
      if (!(Number.isInteger(i) && i >= 0 && i < eps.length)) {
        throw new RangeError(`endpoint list step ${step.kind} at ${i}: the list has ${eps.length} endpoints`);
      }
      this.count(this.weights[i]!, -1);
      if (step.kind === 'set') {
        const w = effectiveWeight(step.endpoint.endpoint);
        eps[i] = step.endpoint;
        this.weights[i] = w;
        this.count(w, 1);
      } else {
        const last = eps.length - 1;
        if (i !== last) {
          eps[i] = eps[last]!;
          this.weights[i] = this.weights[last]!;
        }
        eps.pop();
      }
    }
  }

  private count(weight: number, delta: number): void {
    const c = (this.weightCounts.get(weight) ?? 0) + delta;
    if (c === 0) this.weightCounts.delete(weight);
    else this.weightCounts.set(weight, c);
  }
}
