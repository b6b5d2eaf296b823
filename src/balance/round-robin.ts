// SPDX-License-Identifier: Apache-2.0
// round_robin: weighted, smooth round robin over the ready endpoints of one backend (nginx's smooth weighted
// round robin). A pure picker used by the balance layer once per request attempt.

import { registerPolicy } from './registry.js';
import { WeightedEndpointList } from './endpoint-list.js';
import type { BalancingPolicy, EndpointListStep, Picker, PickerEndpoint, PickInput } from './picker.js';

/** round_robin has no options; any object (e.g. the backend's BalancingConfig) is accepted and ignored. */
export type RoundRobinOptions = object;

/** Upper bound on the work (endpoints x steps) spent on the random start in `createPicker`. */
const MAX_START_WORK = 65_536;

/**
 * Weighted smooth round robin (nginx `ngx_http_upstream_get_peer`):
 * 1. Each endpoint keeps a running `current` score, 0 at first.
 * 2. On a pick, every eligible endpoint (ready, and not in `avoid`) adds its weight to `current`; `total` is the
 *    sum of those weights.
 * 3. The eligible endpoint with the highest `current` is picked (ties: the earlier one), and loses `total`.
 *    Over any `total` consecutive picks with a stable set, each endpoint is picked exactly `weight` times,
 *    interleaved (weights 5:1:1 give a a b a c a a, not a a a a a b c).
 * 4. Not-ready endpoints take no part and keep their score; `avoid` is honoured unless it would leave no
 *    eligible endpoint, then the pick is made again without it (a retry may go back to the same endpoint rather
 *    than fail).
 *
 * With all weights equal the picker is a plain cursor (O(1) per pick when most endpoints are ready); otherwise a
 * pick is O(endpoints). Either way it allocates nothing.
 *
 * Start: a new snapshot first makes a random number of silent picks in [0, endpoints) (Envoy does the same for
 * its EDF scheduler), so many sidecars that get the same endpoint list do not all send their first request to the
 * same endpoint. Scores restart on every new snapshot; the sequence is deterministic given `env.random`.
 *
 * Update (`updatePicker`, issue 13): the picker applies the steps to its own list and restarts exactly as a new
 * snapshot would (one draw of `env.random`): O(steps) with equal weights; with unequal weights the scores are
 * reset as well, an O(endpoints) fill, plus the bounded random start.
 */
export const roundRobinPolicy: BalancingPolicy<RoundRobinOptions> & { readonly name: 'round_robin' } = {
  name: 'round_robin',
  createPicker(endpoints: readonly PickerEndpoint[], _options: RoundRobinOptions, env): Picker {
    return new RoundRobinPicker(endpoints, env.random());
  },
  updatePicker(picker: Picker, steps: readonly EndpointListStep[], endpoints, _options, env): Picker {
    if (!(picker instanceof RoundRobinPicker)) return new RoundRobinPicker(endpoints, env.random());
    picker.update(steps, env.random());
    return picker;
  },
};

/** Registers `round_robin` (called by app.ts at startup). */
export function setup(): void {
  registerPolicy(roundRobinPolicy);
}

class RoundRobinPicker implements Picker {
  private readonly list: WeightedEndpointList;
  /** nginx's `current_weight` per endpoint; unused when `uniform` (its length follows `list.weights`). */
  private current: Float64Array;
  private uniform = true;
  /** Next endpoint to try when `uniform`. */
  private cursor = 0;

  constructor(endpoints: readonly PickerEndpoint[], random01: number) {
    this.list = new WeightedEndpointList(endpoints);
    this.current = new Float64Array(this.list.weights.length);
    this.restart(random01);
  }

  /** Applies `steps` to the list, then restarts as a new snapshot over it would (see `updatePicker`). */
  update(steps: readonly EndpointListStep[], random01: number): void {
    this.list.apply(steps);
    if (this.current.length !== this.list.weights.length) this.current = new Float64Array(this.list.weights.length);
    this.restart(random01);
  }

  /** The start of a new snapshot: scores at 0, then the random number of silent picks. */
  private restart(random01: number): void {
    const n = this.list.endpoints.length;
    this.uniform = this.list.uniform;
    this.cursor = 0;
    if (!this.uniform) this.current.fill(0, 0, n);
    if (n === 0) return;
    const steps = Math.min(Math.floor(random01 * n), Math.floor(MAX_START_WORK / n));
    if (this.uniform) this.cursor = steps % n;
    else for (let s = 0; s < steps; s++) this.stepWeighted(undefined);
  }

  pick(input: PickInput): PickerEndpoint | undefined {
    const avoid = input.avoid !== undefined && input.avoid.size > 0 ? input.avoid : undefined;
    let i = this.uniform ? this.stepUniform(avoid) : this.stepWeighted(avoid);
    if (i < 0 && avoid !== undefined) i = this.uniform ? this.stepUniform(undefined) : this.stepWeighted(undefined);
    return i < 0 ? undefined : this.list.endpoints[i];
  }

  /** Returns the index of the first eligible endpoint from the cursor on, and moves the cursor past it; -1 if none. */
  private stepUniform(avoid: ReadonlySet<string> | undefined): number {
    const eps = this.list.endpoints;
    const n = eps.length;
    let i = this.cursor;
    for (let k = 0; k < n; k++) {
      const e = eps[i]!;
      const next = i + 1 === n ? 0 : i + 1;
      if (e.ready && (avoid === undefined || !avoid.has(e.endpoint.address))) {
        // Move past the pick (not just by one): with A, B(not ready), C this gives A C A C, not A C C A C C.
        this.cursor = next;
        return i;
      }
      i = next;
    }
    return -1;
  }

  /** One smooth-weighted step over the eligible endpoints; returns the picked index, -1 if none is eligible. */
  private stepWeighted(avoid: ReadonlySet<string> | undefined): number {
    const eps = this.list.endpoints;
    const weights = this.list.weights;
    const current = this.current;
    let best = -1;
    let bestScore = 0;
    let total = 0;
    for (let i = 0; i < eps.length; i++) {
      const e = eps[i]!;
      if (!e.ready || (avoid !== undefined && avoid.has(e.endpoint.address))) continue;
      const w = weights[i]!;
      const score = current[i]! + w;
      current[i] = score;
      total += w;
      if (best < 0 || score > bestScore) {
        best = i;
        bestScore = score;
      }
    }
    if (best >= 0) current[best] = bestScore - total;
    return best;
  }
}
