// SPDX-License-Identifier: Apache-2.0
// Per-endpoint load: attempts in flight and a peak-EWMA latency estimate (Linkerd's PeakEwma, from Finagle).
// The balance layer records each attempt with start()/done(); least_request compares cost(). No clock inside.

import type { EndpointLoad } from './picker.js';

/** Options of `createEndpointLoad`. `defaultRttMs` is linkerd2-proxy's `EWMA_DEFAULT_RTT`; `decayMs` is shorter than its `EWMA_DECAY`. */
export interface EndpointLoadOptions {
  /**
   * The estimate before any attempt has completed, in ms. Default 30 (linkerd2-proxy); range > 0, typically
   * 1..1000. Optimistic on purpose: a new endpoint is tried soon, and its first reply replaces the guess.
   */
  readonly defaultRttMs?: number;
  /**
   * Decay time constant, in ms: after `decayMs` without a higher sample an estimate has moved 63 % (1 - 1/e) of
   * the way toward the newer samples (or toward 0 when idle). Default 1000; range > 0, typically 500..60 000.
   * linkerd2-proxy and Finagle use 10 000, sized for many endpoints and high rates; meshlet backends often have two
   * or three endpoints, where one slow call left an endpoint with a high estimate for ~30 s (issue 13). With 1000
   * a 185 ms peak against 10 ms peers is back to parity within ~3 s, while a failing endpoint (1000 ms penalty
   * samples) stays near 1 % of the calls.
   */
  readonly decayMs?: number;
  /**
   * When the endpoint appeared, on the same clock as `start`/`done` (PickerEnv.now). The default estimate decays
   * from here, so a pessimistic default cannot starve a new endpoint. Default: the first `start` call (until then
   * the default estimate does not decay).
   */
  readonly nowMs?: number;
  /**
   * The latency sample a failed attempt counts as, in ms, when it failed faster than that (Finagle's PeakEwma
   * penalises the same way): an endpoint that fails in 1 ms must not look like the fastest one and attract all
   * traffic. Default 1000; range > 0, typically 10x..100x a healthy latency.
   */
  readonly failurePenaltyMs?: number;
}

/** Default `defaultRttMs`: linkerd2-proxy's EWMA_DEFAULT_RTT. */
export const DEFAULT_RTT_MS = 30;
/** Default `decayMs` (linkerd2-proxy's EWMA_DECAY is 10 000; see `EndpointLoadOptions.decayMs`). */
export const DEFAULT_DECAY_MS = 1000;
/** Default `failurePenaltyMs`. */
export const DEFAULT_FAILURE_PENALTY_MS = 1000;

/**
 * Floor of the estimate inside `cost`, in ms (1 µs). Once an estimate has decayed to ~0 (a long idle period, or
 * 0 ms samples from a coarse clock), `0 * (inflight + 1)` would make every in-flight count look free and send
 * all traffic to that endpoint; the floor keeps in-flight counts comparable. Finagle adds a penalty for the same
 * reason.
 */
const MIN_COST_ESTIMATE_MS = 0.001;

/**
 * Creates the load tracker of one endpoint.
 *
 * Estimate (numbered as it happens):
 * 1. It starts at `defaultRttMs`.
 * 2. When an attempt ends, its latency `rtt = done(now) - start(now)` is a sample. Let
 *    `w = exp(-elapsed / decayMs)`, `elapsed` being the time since the last update, and `current = estimate * w`.
 * 3. If `rtt > current` (a peak), the estimate becomes `rtt` at once.
 * 4. Otherwise it moves toward the sample: `estimate = estimate * w + rtt * (1 - w)`.
 * 5. Between samples the estimate decays toward 0 (`cost` reads `estimate * w`, computed from the elapsed time
 *    on every read; no timer), so an endpoint that was slow once and then got no traffic is tried again after
 *    some seconds (tower's `RttEstimate::decay`, Finagle's `observe(0.0)` in `PeakEwma.Cost.get`).
 * 6. A failed attempt (`fail`) is a sample of `max(its latency so far, failurePenaltyMs)`: a peak, so it takes
 *    effect at once and then decays like any other.
 *
 * `cost(now) = max(estimate decayed to now, 1 µs) * (inflight + 1)`: the latency a new attempt would expect,
 * scaled by the queue it joins (tower `PeakEwma::load`, Finagle `PeakEwma`).
 *
 * Difference from tower: reading `cost` does not write the estimate back. tower decays and stores on every
 * read, so how often the balancer looks changes how much weight a later sample gets; here only completed
 * attempts move the estimate, which keeps it independent of the pick rate and deterministic in tests.
 *
 * Time is injected: every method takes `nowMs` from PickerEnv.now (ms, monotonic). Times going backwards are
 * clamped (elapsed and rtt never negative). Not thread-safe, not needed: one event loop.
 *
 * @throws RangeError when `defaultRttMs`, `decayMs` or `failurePenaltyMs` is not a positive finite number.
 */
export function createEndpointLoad(options: EndpointLoadOptions = {}): EndpointLoad {
  const defaultRttMs = options.defaultRttMs ?? DEFAULT_RTT_MS;
  const decayMs = options.decayMs ?? DEFAULT_DECAY_MS;
  const failurePenaltyMs = options.failurePenaltyMs ?? DEFAULT_FAILURE_PENALTY_MS;
  if (!(defaultRttMs > 0 && Number.isFinite(defaultRttMs))) {
    throw new RangeError(`defaultRttMs must be a positive number of ms, got ${defaultRttMs}`);
  }
  if (!(decayMs > 0 && Number.isFinite(decayMs))) {
    throw new RangeError(`decayMs must be a positive number of ms, got ${decayMs}`);
  }
  if (!(failurePenaltyMs > 0 && Number.isFinite(failurePenaltyMs))) {
    throw new RangeError(`failurePenaltyMs must be a positive number of ms, got ${failurePenaltyMs}`);
  }
  return new PeakEwmaLoad(defaultRttMs, decayMs, failurePenaltyMs, options.nowMs ?? Number.NaN);
}

class PeakEwmaLoad implements EndpointLoad {
  inflight = 0;
  ewmaMs: number;
  /** When `ewmaMs` was last updated; NaN until anchored (options.nowMs or the first start). */
  private updatedAtMs: number;

  constructor(
    defaultRttMs: number,
    private readonly decayMs: number,
    private readonly failurePenaltyMs: number,
    createdAtMs: number,
  ) {
    this.ewmaMs = defaultRttMs;
    this.updatedAtMs = createdAtMs;
  }

  cost(nowMs: number): number {
    const estimate = this.ewmaMs * this.decayWeight(nowMs);
    return (estimate > MIN_COST_ESTIMATE_MS ? estimate : MIN_COST_ESTIMATE_MS) * (this.inflight + 1);
  }

  start(startMs: number): (nowMs: number) => void {
    if (Number.isNaN(this.updatedAtMs)) this.updatedAtMs = startMs;
    this.inflight++;
    let ended = false;
    return (endMs: number) => {
      if (ended) return;
      ended = true;
      this.inflight--;
      this.observe(endMs > startMs ? endMs - startMs : 0, endMs);
    };
  }

  fail(nowMs: number): void {
    if (Number.isNaN(this.updatedAtMs)) this.updatedAtMs = nowMs;
    this.observe(this.failurePenaltyMs, nowMs);
  }

  /** exp(-elapsed / decay): 1 right after an update, toward 0 as time passes. */
  private decayWeight(nowMs: number): number {
    const elapsed = nowMs - this.updatedAtMs;
    // NaN (not anchored yet) and negative elapsed both mean "no decay".
    return elapsed > 0 ? Math.exp(-elapsed / this.decayMs) : 1;
  }

  private observe(rttMs: number, nowMs: number): void {
    const w = this.decayWeight(nowMs);
    const current = this.ewmaMs * w;
    this.ewmaMs = rttMs > current ? rttMs : current + rttMs * (1 - w);
    if (nowMs > this.updatedAtMs) this.updatedAtMs = nowMs; // the clock is monotonic; tolerate callers that are not
  }
}
