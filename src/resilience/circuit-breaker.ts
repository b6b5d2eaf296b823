// SPDX-License-Identifier: Apache-2.0
// The failure-rate breaker of one backend: opens when too many of the last calls failed, fails fast while open,
// then lets one probe through. A pure state machine with an injected clock. The failure-rate window is cockatiel's
// CountBreaker (clock-free); the open/half-open/closed transitions are ours, because cockatiel moves Open →
// HalfOpen only inside `execute()` (see docs/decisions.md).
// The two files are imported by path, not through 'cockatiel': its index loads every policy, +6-7 MiB of RSS for a
// class of 80 lines (docs/decisions.md §16; test/architecture/lazy-modules.test.ts keeps it so).

import { CountBreaker } from 'cockatiel/dist/breaker/CountBreaker.js';
import { CircuitState } from 'cockatiel/dist/CircuitBreakerPolicy.js';
import type { BreakerState } from './events.js';

/** Breaker shape (policy `circuitBreaker`, without `mode`). */
export interface FailureRateBreakerPolicy {
  /** Open when more than this share of the sampled calls failed, 1-99 %. Default 50. */
  readonly failureRatePercent: number;
  /** The sampling window: the last N calls. Default 100; range 2-10000. */
  readonly windowCalls: number;
  /** Calls the window must hold before it may open. Default 20; range 1-windowCalls. */
  readonly minimumCalls: number;
  /** First open period, ms; doubles after each failed probe. Default 5000; range 100-600000. */
  readonly openMs: number;
  /** Cap of the open period, ms. Default 60000; >= openMs. */
  readonly maxOpenMs: number;
}

/** What `admit` decided for one call: go ahead, go ahead as the half-open probe, or fail fast. */
export type BreakerTicket = 'admit' | 'probe' | 'reject';

/** How a call ended, as far as breakers and outlier detection care. */
export type Outcome = 'success' | 'failure' | 'neutral';

/**
 * State machine:
 * 1. closed: every call is admitted; each outcome goes into the window of the last `windowCalls` calls. When a
 *    failure leaves more than `failureRatePercent` % failures in a window of at least `minimumCalls`, the breaker
 *    opens for `openMs`.
 * 2. open: calls are rejected until the open period is over. The first `admit()` after that moves to half-open
 *    (the transition happens on read, with the injected clock: nothing needs a timer) and is the probe.
 * 3. half-open: while the probe is in flight every other call is rejected. The probe's success closes the breaker
 *    with an empty window; its failure opens it again for twice the last period (capped at `maxOpenMs`); a
 *    neutral end (cancelled) leaves it half-open for the next call to probe.
 * Outcomes of `admit` calls go to `record`; the probe's goes to `recordProbe`. Neutral outcomes change nothing.
 * `onState` hears every transition.
 */
export interface FailureRateBreaker {
  admit(nowMs: number): BreakerTicket;
  record(outcome: Outcome, nowMs: number): void;
  recordProbe(outcome: Outcome, nowMs: number): void;
  readonly state: BreakerState;
  /** The window is rebuilt (a new shape empties it); the state and open period carry over. */
  reconfigure(policy: FailureRateBreakerPolicy): void;
}

export function createFailureRateBreaker(
  initial: FailureRateBreakerPolicy,
  onState: (state: BreakerState) => void = () => {},
): FailureRateBreaker {
  let policy = initial;
  let window = newWindow(policy);
  let state: BreakerState = 'closed';
  let openUntil = 0;
  let lastOpenMs = 0;
  let probing = false;

  const open = (now: number, periodMs: number): void => {
    lastOpenMs = Math.min(periodMs, policy.maxOpenMs);
    openUntil = now + lastOpenMs;
    state = 'open';
    probing = false;
    onState('open');
  };

  return {
    admit(now) {
      if (state === 'closed') return 'admit';
      if (state === 'open') {
        if (now < openUntil) return 'reject';
        state = 'half-open';
        onState('half-open');
      }
      if (probing) return 'reject';
      probing = true;
      return 'probe';
    },
    record(outcome, now) {
      if (state !== 'closed' || outcome === 'neutral') return;
      if (outcome === 'success') window.success(CircuitState.Closed);
      else if (window.failure(CircuitState.Closed)) open(now, policy.openMs);
    },
    recordProbe(outcome, now) {
      if (state !== 'half-open' || !probing) return;
      probing = false;
      if (outcome === 'neutral') return;
      if (outcome === 'success') {
        window = newWindow(policy);
        state = 'closed';
        lastOpenMs = 0;
        onState('closed');
      } else {
        open(now, Math.max(policy.openMs, lastOpenMs * 2));
      }
    },
    get state() {
      return state;
    },
    reconfigure(next) {
      const reshaped =
        next.failureRatePercent !== policy.failureRatePercent ||
        next.windowCalls !== policy.windowCalls ||
        next.minimumCalls !== policy.minimumCalls;
      policy = next;
      if (reshaped) window = newWindow(next);
    },
  };
}

function newWindow(p: FailureRateBreakerPolicy): CountBreaker {
  return new CountBreaker({
    threshold: p.failureRatePercent / 100,
    size: p.windowCalls,
    minimumNumberOfCalls: Math.min(p.minimumCalls, p.windowCalls),
  });
}
