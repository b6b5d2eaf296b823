// SPDX-License-Identifier: Apache-2.0
// The decision hooks of the resilience layers (ejections, overflows, retries, budgets, shadow decisions, policy
// reloads): plain optional callbacks, so src/app/telemetry.ts binds pre-labelled counters to them and tests can
// count decisions without a metrics registry. Every decision the layers take calls exactly one hook (a retry that
// waits a server's pushback also calls `onRetryPushback`, which qualifies it).

import type { ReloadResult } from '../config/reload-result.js';

/** A protective feature that has `mode: off | shadow | enforce` in the policy. */
export type ResilienceFeature = 'limits' | 'circuit_breaker' | 'outlier' | 'retry' | 'retry_budget';

/** Which circuit-breaker threshold overflowed (Envoy's max_requests / max_pending_requests / max_retries). */
export type LimitName = 'max_requests' | 'max_pending' | 'max_retries';

/** States of the per-backend failure-rate breaker. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Why an attempt was retried. */
export type RetryReason = 'never_reached_app' | 'status' | 'per_try_timeout';

/**
 * Why a retryable failure was not retried (besides the budget and the retry limit, which have their own hooks).
 * `pushback`: the upstream's `grpc-retry-pushback-ms` was negative or malformed, which asks for no retry (gRFC A6).
 */
export type RetryGiveUp = 'max_retries' | 'body' | 'deadline' | 'cancelled' | 'pushback';

/**
 * Decision hooks. All optional; each is called synchronously on the request path or a timer, so implementations
 * must be cheap and must not throw (bind pre-labelled counter children, do not look labels up per call).
 * `backend` is the logical service name (bounded: configured or discovered backends); `endpoint` is `host:port`.
 */
export interface ResilienceEvents {
  /** Outlier detection took `endpoint` out of its backend's picker for `penaltyMs` (enforce mode). */
  onEject?(backend: string, endpoint: string, penaltyMs: number): void;
  /** An ejection was due but the backend already has its maximum share of endpoints ejected. */
  onEjectSkipped?(backend: string, endpoint: string): void;
  /** An ejected endpoint's penalty ended; the next call to it is its probe (probation). */
  onProbation?(backend: string, endpoint: string): void;
  /** The probe succeeded: the endpoint is back in the picker. */
  onRestore?(backend: string, endpoint: string): void;
  /** A circuit-breaker threshold rejected an attempt (enforce) or a retry was not made for `max_retries`. */
  onOverflow?(backend: string, limit: LimitName): void;
  /** The failure-rate breaker of `backend` changed state (enforce and shadow). */
  onBreakerState?(backend: string, state: BreakerState): void;
  /** The failure-rate breaker rejected an attempt (enforce). */
  onBreakerReject?(backend: string): void;
  /** An attempt is being retried. */
  onRetry?(backend: string, reason: RetryReason): void;
  /** A retryable failure went back to the client without a retry, for `why`. */
  onRetryGiveUp?(backend: string, why: RetryGiveUp): void;
  /**
   * The retry just counted by `onRetry` waits the upstream's `grpc-retry-pushback-ms` (`delayMs`, >= 0) instead of
   * the jittered backoff (gRFC A6). Qualifies that retry; a pushback that refuses the retry is `onRetryGiveUp`.
   */
  onRetryPushback?(backend: string, delayMs: number): void;
  /** A retry was not made because the retry budget was spent (enforce). */
  onBudgetExhausted?(backend: string): void;
  /**
   * Shadow mode: `feature` would have rejected (limits, circuit_breaker), ejected (outlier), retried (retry) or
   * refused a retry (retry_budget), and let the call through unchanged. `detail` is a bounded word: a LimitName,
   * `open`, `eject`, a RetryReason, `exhausted`.
   */
  onShadow?(feature: ResilienceFeature, backend: string, detail: string): void;
  /** A policy file change was validated: applied, rejected (the last good policy stays), or identical. */
  onReload?(result: ReloadResult): void;
}

/** No hooks: the default. */
export const NO_EVENTS: ResilienceEvents = Object.freeze({});

/**
 * Calls every hook of each of `sinks` in order (e.g. the metrics binding and a test counter). Returns the one
 * sink itself when there is only one, so the common case costs no indirection.
 */
export function combineEvents(...sinks: readonly (ResilienceEvents | undefined)[]): ResilienceEvents {
  const list = sinks.filter((s): s is ResilienceEvents => s !== undefined && s !== NO_EVENTS);
  if (list.length === 0) return NO_EVENTS;
  if (list.length === 1) return list[0] as ResilienceEvents;
  const keys: (keyof ResilienceEvents)[] = [
    'onEject',
    'onEjectSkipped',
    'onProbation',
    'onRestore',
    'onOverflow',
    'onBreakerState',
    'onBreakerReject',
    'onRetry',
    'onRetryGiveUp',
    'onRetryPushback',
    'onBudgetExhausted',
    'onShadow',
    'onReload',
  ];
  const out: Record<string, (...args: unknown[]) => void> = {};
  for (const key of keys) {
    const bound = list
      .filter((s) => typeof s[key] === 'function')
      .map((s) => (s[key] as (...args: unknown[]) => void).bind(s));
    if (bound.length === 0) continue;
    out[key] = (...args: unknown[]) => {
      for (const f of bound) f(...args);
    };
  }
  return out as ResilienceEvents;
}
