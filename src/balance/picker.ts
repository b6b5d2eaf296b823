// SPDX-License-Identifier: Apache-2.0
// The balancing contract (grpc-js's balancer/picker split): a policy turns the current endpoint set into an
// immutable Picker snapshot; the balance layer asks the snapshot for one endpoint per request (not per connection).
// Pickers are pure: no I/O, no timers; time and randomness are injected.

import type { Endpoint } from '../discovery/resolver.js';

/**
 * Per-endpoint load, shared by every snapshot that contains the endpoint (carried over by address when the set
 * changes). The balance layer calls `start` when an attempt is sent and the returned `done` when it ends.
 */
export interface EndpointLoad {
  /** Attempts currently in flight on this endpoint. */
  readonly inflight: number;
  /**
   * Peak-EWMA latency estimate in ms as of the last completed attempt (Linkerd's PeakEwma: peaks are taken at
   * once, decays are smoothed). Not decayed to "now"; use `cost(nowMs)` to compare endpoints.
   */
  readonly ewmaMs: number;
  /**
   * The load least_request compares, at `nowMs`: the estimate decayed toward 0 since the last completed attempt,
   * times `inflight + 1` (Linkerd/Finagle). Lower is better. Pure: reading it changes nothing.
   */
  cost(nowMs: number): number;
  /**
   * Records the start of an attempt at `nowMs`; returns the function that records its end. That function is
   * idempotent: only its first call counts (a reply and a cancel may both report the end).
   */
  start(nowMs: number): (nowMs: number) => void;
  /**
   * Records that an attempt failed (the endpoint looks unhealthy: UNAVAILABLE, INTERNAL, DATA_LOSS,
   * DEADLINE_EXCEEDED, connection errors) at `nowMs`, as an expensive latency sample, so an endpoint that fails
   * fast does not look cheap. Called in addition to the attempt's `done`, whenever the failure is known.
   */
  fail(nowMs: number): void;
}

/**
 * An endpoint as pickers see it. `ready` is false while it is ejected (outlier detection) or its breaker is open.
 * Pickers read `ready` at every pick (never cache it), so it may be a getter over live breaker state.
 */
export interface PickerEndpoint {
  readonly endpoint: Endpoint;
  readonly load: EndpointLoad;
  readonly ready: boolean;
}

/**
 * The weight policies use for `endpoint`: `endpoint.weight` when it is a positive finite number, else 1 (the
 * resolver contract says >= 1; a bad value must not stop balancing). Fractions are kept as they are.
 */
export function effectiveWeight(endpoint: Endpoint): number {
  const w = endpoint.weight;
  return w > 0 && Number.isFinite(w) ? w : 1;
}

/** What a pick may depend on. */
export interface PickInput {
  /** The hash key for consistent hashing (the configured header's value); undefined when absent. */
  readonly hashKey: string | undefined;
  /** Addresses to avoid if any other ready endpoint exists (a retry picks a different endpoint). */
  readonly avoid: ReadonlySet<string> | undefined;
}

/**
 * A snapshot over one endpoint set. `pick` returns undefined only when no endpoint is ready. Internal cursors
 * (round robin's position) may advance; the set changes only through its policy's `updatePicker` (Backends,
 * between picks). `pick` is synchronous and allocation-free, so it is safe to call on every request.
 */
export interface Picker {
  pick(input: PickInput): PickerEndpoint | undefined;
}

/** Injected sources of time and randomness, so pickers are deterministic in tests. */
export interface PickerEnv {
  /** Uniform in [0, 1). */
  readonly random: () => number;
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
}

/**
 * One step of an in-place change to a backend's endpoint list, as Backends makes it (issue 13: an update of k
 * endpoints among n costs O(k)). `index` is a position in the list as it is before the step:
 * - `set`: the endpoint at `index` is replaced (another weight or meta, same address);
 * - `push`: `endpoint` is appended;
 * - `remove`: the endpoint at `index` leaves; the last endpoint takes its place (swap-remove), unless it was the
 *   last.
 */
export type EndpointListStep =
  | { readonly kind: 'set'; readonly index: number; readonly endpoint: PickerEndpoint }
  | { readonly kind: 'push'; readonly endpoint: PickerEndpoint }
  | { readonly kind: 'remove'; readonly index: number };

/** A load-balancing policy: builds a picker from the ready and not-ready endpoints of one backend. */
export interface BalancingPolicy<O = unknown> {
  readonly name: string;
  /**
   * Builds a snapshot. `previous` is the snapshot being replaced (same policy), so policies with expensive
   * structures (ring hash) can reuse work. Must not mutate `endpoints`.
   */
  createPicker(endpoints: readonly PickerEndpoint[], options: O, env: PickerEnv, previous?: Picker): Picker;
  /**
   * Optional: brings `picker` (made by this policy, over the list before `steps`) to `endpoints` (that list after
   * `steps`, in order), in O(steps) plus what the policy cannot avoid, and returns the picker to use (`picker`
   * changed in place, or a new one). The result must pick exactly as `createPicker(endpoints, options, env,
   * picker)` would, drawing the same numbers from `env`. Without it, Backends calls `createPicker`.
   */
  updatePicker?(
    picker: Picker,
    steps: readonly EndpointListStep[],
    endpoints: readonly PickerEndpoint[],
    options: O,
    env: PickerEnv,
  ): Picker;
}
