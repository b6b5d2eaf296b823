// SPDX-License-Identifier: Apache-2.0
// The retry budget of one backend (Linkerd/Finagle): retries may add at most `ratio` of the requests seen in the
// last `ttlMs`, plus a floor of `minRetriesPerSecond`. A pure windowed counter with an injected clock; the retry
// layer deposits one request per call and withdraws one per retry.

/** Budget shape (policy `retryBudget`). */
export interface RetryBudgetPolicy {
  /** Retries allowed per request, 0-1; default 0.2 (20 %, Linkerd's retryRatio). */
  readonly ratio: number;
  /** Retries always allowed per second of the window, so low-traffic backends can retry at all; default 10. */
  readonly minRetriesPerSecond: number;
  /** The window requests and retries are counted over, ms; default 10000 (Linkerd's ttl). Range 1000-600000. */
  readonly ttlMs: number;
}

/**
 * A budget over a sliding window of `SLICES` slices.
 *
 * 1. `deposit(now)` counts a request in the current slice.
 * 2. `tryWithdraw(now)` allows a retry while `retries + 1 <= ratio * requests + minRetriesPerSecond * ttl/1000`,
 *    counted over the slices of the last `ttlMs`, and counts it when allowed.
 * 3. Slices older than `ttlMs` are dropped on every access, however long the budget sat idle (old traffic never
 *    lends budget to new failures).
 * `forceWithdraw(now)` counts a retry regardless (shadow mode), so the budget keeps tracking real traffic.
 * Time is whatever clock `now` comes from, in ms; it must not go backwards (a backwards step is treated as no time).
 */
export interface RetryBudget {
  deposit(nowMs: number): void;
  tryWithdraw(nowMs: number): boolean;
  forceWithdraw(nowMs: number): boolean;
  /** Retries still allowed right now (may be fractional). */
  available(nowMs: number): number;
  /** A new shape; the counts carry over (the window length changes the slice length from the next slice on). */
  reconfigure(policy: RetryBudgetPolicy): void;
}

const SLICES = 10;

export function createRetryBudget(initial: RetryBudgetPolicy): RetryBudget {
  let policy = initial;
  let sliceMs = policy.ttlMs / SLICES;
  const requests = new Float64Array(SLICES);
  const retries = new Float64Array(SLICES);
  let totalRequests = 0;
  let totalRetries = 0;
  /** Index of the current slice, and the start time of its slice number. */
  let current = 0;
  let currentStart = -Infinity;

  const advance = (now: number): void => {
    if (now - currentStart < sliceMs) return;
    const elapsed = currentStart === -Infinity ? SLICES : Math.floor((now - currentStart) / sliceMs);
    const steps = Math.min(elapsed, SLICES);
    for (let i = 0; i < steps; i++) {
      current = (current + 1) % SLICES;
      totalRequests -= requests[current] as number;
      totalRetries -= retries[current] as number;
      requests[current] = 0;
      retries[current] = 0;
    }
    currentStart = elapsed >= SLICES || currentStart === -Infinity ? now : currentStart + elapsed * sliceMs;
  };

  const allowance = (): number =>
    policy.ratio * totalRequests + (policy.minRetriesPerSecond * policy.ttlMs) / 1000 - totalRetries;

  return {
    deposit(now) {
      advance(now);
      requests[current] = (requests[current] as number) + 1;
      totalRequests++;
    },
    tryWithdraw(now) {
      advance(now);
      if (allowance() < 1) return false;
      retries[current] = (retries[current] as number) + 1;
      totalRetries++;
      return true;
    },
    forceWithdraw(now) {
      advance(now);
      const allowed = allowance() >= 1;
      retries[current] = (retries[current] as number) + 1;
      totalRetries++;
      return allowed;
    },
    available(now) {
      advance(now);
      return Math.max(0, allowance());
    },
    reconfigure(next) {
      policy = next;
      sliceMs = next.ttlMs / SLICES;
    },
  };
}
