// SPDX-License-Identifier: Apache-2.0
// Outlier detection for the endpoints of one backend (Linkerd's consecutive-failure accrual): N consecutive
// failures eject an endpoint for an exponentially growing, jittered penalty, then one real call probes it.
// A pure state machine with injected time and randomness; layers/outlier.ts applies its transitions to the picker.

import type { Outcome } from './circuit-breaker.js';

/** Detection shape (policy `outlierDetection`, without `mode`). */
export interface OutlierPolicy {
  /** Consecutive failures that eject an endpoint. Default 7 (Linkerd); range 1-1000. */
  readonly consecutiveFailures: number;
  /** First penalty, ms. Default 1000; range 100-3600000. */
  readonly baseEjectionMs: number;
  /** Cap of the penalty, ms. Default 60000; >= baseEjectionMs. */
  readonly maxEjectionMs: number;
  /** Random extra of up to this share of the penalty, 0-100 %. Default 50 (Linkerd's jitter ratio 0.5). */
  readonly jitterPercent: number;
  /**
   * Ejections stop once this share of the backend's endpoints is out (ejected or on probation), 0-100 %; but
   * one endpoint of a backend with two or more can always be ejected (see `mayEject`).
   */
  readonly maxEjectedPercent: number;
}

/** Health of one endpoint as outlier detection sees it. */
export type EndpointHealth = 'active' | 'ejected' | 'probation' | 'probing';

/** A change the adapter must apply (picker readiness, timers, hooks). */
export type OutlierTransition =
  | { readonly kind: 'eject'; readonly penaltyMs: number; readonly untilMs: number }
  | { readonly kind: 'eject-skipped' }
  | { readonly kind: 'probation' }
  | { readonly kind: 'restore' };

/** What the detector keeps per endpoint. Read-only for callers. */
export interface EndpointOutlierState {
  readonly address: string;
  readonly health: EndpointHealth;
  readonly consecutiveFailures: number;
  /** Ejections since the endpoint was last restored; the next penalty is base * 2^(ejections - 1). */
  readonly ejections: number;
  /** When the current penalty ends (ms on the injected clock); 0 unless ejected. */
  readonly ejectedUntilMs: number;
}

/**
 * Per endpoint:
 * 1. active: a failure adds one to its consecutive failures, a success resets them, neutral outcomes (cancelled,
 *    local rejections) change nothing. The `consecutiveFailures`-th failure ejects it if `mayEject` allows it;
 *    otherwise the ejection is skipped and the counter starts over.
 * 2. ejected: out of the picker for penalty = min(max, base * 2^(ejections - 1)) plus up to `jitterPercent` % of it
 *    at random (capped at max). Outcomes of calls still in flight are ignored. `expire()` after the penalty moves
 *    it to probation.
 * 3. probation: back in the picker; the next call to it becomes the probe (`beginProbe`, state probing), and no
 *    other call is sent to it meanwhile (the adapter takes it out of the picker again).
 * 4. probing: the probe's success restores it (active, counters and penalty reset); its failure ejects it again
 *    with the next, longer penalty (the share check does not apply: it was already counted); a neutral end
 *    returns it to probation.
 * Endpoints on probation or probing count toward the ejected share.
 */
export interface OutlierDetector {
  /** The state of `address` (created active on first use). */
  get(address: string): EndpointOutlierState;
  /** An outcome of a normal (non-probe) call to `address`. */
  record(address: string, outcome: Outcome, nowMs: number, endpointCount: number): OutlierTransition | undefined;
  /** Marks the start of the probe call; false unless `address` is on probation. */
  beginProbe(address: string): boolean;
  /** The probe's outcome. */
  recordProbe(address: string, outcome: Outcome, nowMs: number): OutlierTransition | undefined;
  /** Ends the penalty of `address` if it is over at `nowMs`. */
  expire(address: string, nowMs: number): OutlierTransition | undefined;
  /** Endpoints currently not active. */
  readonly ejectedCount: number;
  /** Every endpoint not active (for reconciliation after a reload and for /clusters). */
  ejected(): EndpointOutlierState[];
  /** Drops the state of endpoints that left the backend. */
  retain(addresses: ReadonlySet<string>): void;
  /** Forgets everything (mode changed); returns the endpoints that were not active. */
  reset(): string[];
  reconfigure(policy: OutlierPolicy): void;
}

class EndpointState implements EndpointOutlierState {
  health: EndpointHealth = 'active';
  consecutiveFailures = 0;
  ejections = 0;
  ejectedUntilMs = 0;
  constructor(readonly address: string) {}
}

/**
 * Whether one more endpoint may be ejected when `out` of `endpointCount` are out already:
 * 1. none is out and the backend has two or more endpoints: yes, whatever `maxEjectedPercent` (Envoy: "if no
 *    hosts have been ejected, Envoy will eject the host immediately", arch_overview/upstream/outlier);
 * 2. some are out: yes while the share already out is below `maxEjectedPercent` (grpc-java PR 9489 "allow one
 *    additional ejection past the maximum"), so with 3 endpoints and 50 % a second failing one is ejected;
 * 3. a single endpoint is ejected only when `maxEjectedPercent` is 100: meshlet has no panic mode, so ejecting the
 *    only endpoint turns its failures into ERR_NO_ENDPOINTS for the whole penalty.
 */
export function mayEject(out: number, endpointCount: number, maxEjectedPercent: number): boolean {
  if (out === 0) return endpointCount >= 2 || (endpointCount === 1 && maxEjectedPercent >= 100);
  return out * 100 < endpointCount * maxEjectedPercent;
}

export function createOutlierDetector(initial: OutlierPolicy, random: () => number): OutlierDetector {
  let policy = initial;
  const states = new Map<string, EndpointState>();
  let out = 0;

  const stateOf = (address: string): EndpointState => {
    let s = states.get(address);
    if (s === undefined) {
      s = new EndpointState(address);
      states.set(address, s);
    }
    return s;
  };

  const eject = (s: EndpointState, now: number): OutlierTransition => {
    s.ejections++;
    const ceiling = Math.min(policy.maxEjectionMs, policy.baseEjectionMs * 2 ** Math.min(s.ejections - 1, 30));
    const penaltyMs = Math.round(Math.min(policy.maxEjectionMs, ceiling * (1 + (policy.jitterPercent / 100) * random())));
    s.health = 'ejected';
    s.consecutiveFailures = 0;
    s.ejectedUntilMs = now + penaltyMs;
    return { kind: 'eject', penaltyMs, untilMs: s.ejectedUntilMs };
  };

  return {
    get: stateOf,
    record(address, outcome, now, endpointCount) {
      if (outcome === 'neutral') return undefined;
      const s = stateOf(address);
      if (s.health !== 'active') return undefined;
      if (outcome === 'success') {
        s.consecutiveFailures = 0;
        return undefined;
      }
      if (++s.consecutiveFailures < policy.consecutiveFailures) return undefined;
      if (!mayEject(out, endpointCount, policy.maxEjectedPercent)) {
        s.consecutiveFailures = 0;
        return { kind: 'eject-skipped' };
      }
      out++;
      return eject(s, now);
    },
    beginProbe(address) {
      const s = states.get(address);
      if (s === undefined || s.health !== 'probation') return false;
      s.health = 'probing';
      return true;
    },
    recordProbe(address, outcome, now) {
      const s = states.get(address);
      if (s === undefined || s.health !== 'probing') return undefined;
      if (outcome === 'neutral') {
        s.health = 'probation';
        return undefined;
      }
      if (outcome === 'failure') return eject(s, now);
      s.health = 'active';
      s.consecutiveFailures = 0;
      s.ejections = 0;
      s.ejectedUntilMs = 0;
      out--;
      return { kind: 'restore' };
    },
    expire(address, now) {
      const s = states.get(address);
      if (s === undefined || s.health !== 'ejected' || now < s.ejectedUntilMs) return undefined;
      s.health = 'probation';
      s.ejectedUntilMs = 0;
      return { kind: 'probation' };
    },
    get ejectedCount() {
      return out;
    },
    ejected() {
      return [...states.values()].filter((s) => s.health !== 'active');
    },
    retain(addresses) {
      for (const [address, s] of states) {
        if (addresses.has(address)) continue;
        if (s.health !== 'active') out--;
        states.delete(address);
      }
    },
    reset() {
      const was = [...states.values()].filter((s) => s.health !== 'active').map((s) => s.address);
      states.clear();
      out = 0;
      return was;
    },
    reconfigure(next) {
      policy = next;
    },
  };
}
