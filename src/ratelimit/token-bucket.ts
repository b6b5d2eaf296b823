// SPDX-License-Identifier: Apache-2.0
// Token bucket: the pure rate algorithm behind local rate limits (limiter.ts) and the pacing of the Consul
// blocking-query loop (src/discovery/consul/watcher.ts). No timers and no I/O: time comes from the injected `now`,
// and callers decide what to do when it is empty.

/** Options of {@link createTokenBucket}. */
export interface TokenBucketOptions {
  /** Burst: the most tokens the bucket holds. Required; > 0 (fractional allowed, usually an integer >= 1). */
  readonly capacity: number;
  /** Refill rate in tokens per second. Required; > 0 (e.g. 10 for one token every 100 ms). */
  readonly refillPerSecond: number;
  /** Tokens at creation. Default `capacity` (start full); range 0-capacity. */
  readonly initialTokens?: number;
  /**
   * The clock, in milliseconds. Required (inject a fake in tests). Monotonic is best; a wall clock works too:
   * a backwards step adds no tokens and refill resumes from the new reading (it never stalls the bucket).
   */
  readonly now: () => number;
}

/** A token bucket. Not shared across threads; every method refills lazily from `now()` first. */
export interface TokenBucket {
  /** Takes `count` tokens (default 1) if they are all available and returns true; otherwise takes none. */
  tryTake(count?: number): boolean;
  /**
   * Milliseconds until `count` tokens (default 1) will be available: 0 when they are now, `Infinity` when
   * `count` exceeds the capacity. Rounded up, so waiting that long and then calling `tryTake` succeeds.
   */
  msUntilAvailable(count?: number): number;
  /** Tokens available now (fractional). */
  available(): number;
}

// Absorbs float error: after waiting msUntilAvailable() the refill may land a hair below a whole token.
const EPSILON = 1e-9;

/**
 * Creates a token bucket. Throws a RangeError on a non-positive capacity or rate, or an initialTokens outside
 * 0-capacity: those are configuration bugs.
 */
export function createTokenBucket(options: TokenBucketOptions): TokenBucket {
  const { capacity, refillPerSecond, now } = options;
  if (!(capacity > 0) || !Number.isFinite(capacity)) throw new RangeError(`capacity must be > 0, got ${capacity}`);
  if (!(refillPerSecond > 0) || !Number.isFinite(refillPerSecond)) {
    throw new RangeError(`refillPerSecond must be > 0, got ${refillPerSecond}`);
  }
  let tokens = options.initialTokens ?? capacity;
  if (!(tokens >= 0 && tokens <= capacity)) {
    throw new RangeError(`initialTokens must be 0-${capacity}, got ${options.initialTokens}`);
  }
  let last = now();

  const refill = (): void => {
    const t = now();
    if (t > last) tokens = Math.min(capacity, tokens + ((t - last) * refillPerSecond) / 1000);
    last = t;
  };

  return {
    tryTake(count = 1) {
      refill();
      if (tokens + EPSILON < count) return false;
      tokens = Math.max(0, tokens - count);
      return true;
    },
    msUntilAvailable(count = 1) {
      if (count > capacity) return Infinity;
      refill();
      const missing = count - tokens;
      if (missing <= EPSILON) return 0;
      return Math.ceil((missing * 1000) / refillPerSecond);
    },
    available() {
      refill();
      return tokens;
    },
  };
}
