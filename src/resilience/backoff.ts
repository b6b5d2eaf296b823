// SPDX-License-Identifier: Apache-2.0
// Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015): the pure
// delay algorithm for control-plane retries (Consul watch errors, reconnects). No timers: callers schedule.

/** Backoff shape. */
export interface BackoffPolicy {
  /** Upper bound of the first delay, ms. Typical 100-1000 (the Consul watcher uses 250); > 0. */
  readonly baseMs: number;
  /** Cap on the upper bound, ms. Typical 30_000; >= baseMs. */
  readonly maxMs: number;
}

/**
 * The delay before retry number `attempt` (0 = the first retry): a uniform draw from
 * `[0, min(maxMs, baseMs * 2^attempt))`, with `random()` in [0, 1) (inject a seeded one in tests).
 * Full jitter spreads a herd of clients that failed together instead of keeping them in lockstep.
 */
export function fullJitterDelayMs(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const ceiling = backoffCeilingMs(attempt, policy);
  return Math.floor(random() * ceiling);
}

/** The upper bound of the draw for `attempt`: `min(maxMs, baseMs * 2^attempt)`. Exposed for tests and docs. */
export function backoffCeilingMs(attempt: number, policy: BackoffPolicy): number {
  if (!(policy.baseMs > 0) || !(policy.maxMs >= policy.baseMs)) {
    throw new RangeError(`invalid backoff policy: baseMs ${policy.baseMs}, maxMs ${policy.maxMs}`);
  }
  // 2^1024 is Infinity; capping the exponent keeps the arithmetic finite before the min().
  const exp = Math.min(Math.max(0, Math.floor(attempt)), 1000);
  return Math.min(policy.maxMs, policy.baseMs * 2 ** exp);
}

/** A stateful attempt counter over {@link fullJitterDelayMs}. */
export interface Backoff {
  /** The delay before the next retry, ms; counts one attempt. */
  next(): number;
  /** Back to the first attempt (call after a success). */
  reset(): void;
  /** Retries counted since the last reset. */
  readonly attempts: number;
}

/** Options of {@link createBackoff}: the policy plus the injected randomness. */
export interface BackoffOptions extends BackoffPolicy {
  /** Uniform in [0, 1). Required so callers choose between `Math.random` and a seeded source. */
  readonly random: () => number;
}

/** Creates a backoff whose n-th `next()` (n from 0) draws from `[0, min(maxMs, baseMs * 2^n))`. */
export function createBackoff(options: BackoffOptions): Backoff {
  const policy: BackoffPolicy = { baseMs: options.baseMs, maxMs: options.maxMs };
  backoffCeilingMs(0, policy); // validate eagerly
  let attempts = 0;
  return {
    next() {
      const delay = fullJitterDelayMs(attempts, policy, options.random);
      attempts += 1;
      return delay;
    },
    reset() {
      attempts = 0;
    },
    get attempts() {
      return attempts;
    },
  };
}
