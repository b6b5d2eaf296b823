// SPDX-License-Identifier: Apache-2.0
// Envoy-style circuit-breaker thresholds for one backend, as a pure counter: attempts in flight, attempts waiting
// for a slot (pending), retries in flight. No timers, no I/O: layers/circuit-breaker.ts and layers/retry.ts drive it.

/** The thresholds (policy `limits`); `mode` is read by the layers, not here. */
export interface ConcurrencyLimits {
  /** Attempts in flight to the backend (Envoy max_requests). Range 1-1000000. */
  readonly maxConcurrentRequests: number;
  /** Attempts that may wait in FIFO order for a slot once `maxConcurrentRequests` is reached; 0 = fail at once. */
  readonly maxPendingRequests: number;
  /** Retries in flight to the backend (Envoy max_retries). Range 0-1000000. */
  readonly maxConcurrentRetries: number;
}

/** Someone waiting for a slot. `admit()` is called once when a slot is handed over (the slot is then theirs). */
export interface SlotWaiter {
  admit(): void;
}

/**
 * What `tryAcquire` decided: `admitted` (a slot is held; call `release()` when the attempt ends), `queued` (the
 * waiter will be admitted later, or removed with `cancel()`), or an overflow naming the threshold that was full.
 */
export type Admission = 'admitted' | 'queued' | 'max_requests' | 'max_pending';

/**
 * The thresholds of one backend.
 *
 * State machine of one attempt:
 * 1. `tryAcquire(waiter)`: with fewer than `maxConcurrentRequests` in flight the attempt holds a slot at once.
 * 2. Otherwise, with fewer than `maxPendingRequests` waiting, it joins the FIFO queue (`queued`); with
 *    `maxPendingRequests` 0 the answer is `max_requests`, with a full queue `max_pending`.
 * 3. `release()` hands the freed slot to the oldest waiter (its `admit()` runs synchronously) or frees it.
 * 4. `cancel(waiter)` takes a waiter out of the queue (its call was cancelled or its deadline passed).
 * Retries are counted separately: `tryAcquireRetry()` / `releaseRetry()` (they also hold a request slot).
 *
 * Shadow mode uses `evaluate()` (what `tryAcquire` would answer, with no effect) and `forceAcquire()` (hold a slot
 * regardless), so the counts stay those of the real traffic. Not re-entrant across `admit()` callbacks: a waiter
 * must not call `release()` from inside `admit()`.
 */
export interface ConcurrencyLimiter {
  tryAcquire(waiter: SlotWaiter | undefined): Admission;
  evaluate(): Admission;
  forceAcquire(): void;
  release(): void;
  /** Removes a queued waiter; false when it was not queued (already admitted or never queued). */
  cancel(waiter: SlotWaiter): boolean;
  tryAcquireRetry(): boolean;
  forceAcquireRetry(): void;
  releaseRetry(): void;
  /** New thresholds; counts carry over. A higher `maxConcurrentRequests` admits waiters at once. */
  reconfigure(limits: ConcurrencyLimits): void;
  readonly inflight: number;
  readonly pending: number;
  readonly retriesInflight: number;
}

export function createConcurrencyLimiter(initial: ConcurrencyLimits): ConcurrencyLimiter {
  let limits = initial;
  let inflight = 0;
  let retries = 0;
  // A FIFO as an array with a moving head: O(1) shift without reallocation; compacted when the head passes half.
  let queue: (SlotWaiter | undefined)[] = [];
  let head = 0;
  let pendingCount = 0;

  const decide = (): Admission => {
    if (inflight < limits.maxConcurrentRequests) return 'admitted';
    if (limits.maxPendingRequests === 0) return 'max_requests';
    return pendingCount < limits.maxPendingRequests ? 'queued' : 'max_pending';
  };

  const admitWaiters = (): void => {
    while (pendingCount > 0 && inflight < limits.maxConcurrentRequests) {
      const w = queue[head];
      queue[head] = undefined;
      head++;
      if (w === undefined) continue; // cancelled
      pendingCount--;
      inflight++;
      w.admit();
    }
    if (head > 64 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
    if (pendingCount === 0 && head > 0) {
      queue = [];
      head = 0;
    }
  };

  return {
    tryAcquire(waiter) {
      const d = decide();
      if (d === 'admitted') inflight++;
      else if (d === 'queued') {
        if (waiter === undefined) throw new Error('tryAcquire: a waiter is required when pending requests are allowed');
        queue.push(waiter);
        pendingCount++;
      }
      return d;
    },
    evaluate: decide,
    forceAcquire() {
      inflight++;
    },
    release() {
      if (inflight <= 0) throw new Error('ConcurrencyLimiter.release: no slot is held');
      inflight--;
      admitWaiters();
    },
    cancel(waiter) {
      for (let i = head; i < queue.length; i++) {
        if (queue[i] === waiter) {
          queue[i] = undefined;
          pendingCount--;
          return true;
        }
      }
      return false;
    },
    tryAcquireRetry() {
      if (retries >= limits.maxConcurrentRetries) return false;
      retries++;
      return true;
    },
    forceAcquireRetry() {
      retries++;
    },
    releaseRetry() {
      if (retries <= 0) throw new Error('ConcurrencyLimiter.releaseRetry: no retry slot is held');
      retries--;
    },
    reconfigure(next) {
      limits = next;
      admitWaiters();
    },
    get inflight() {
      return inflight;
    },
    get pending() {
      return pendingCount;
    },
    get retriesInflight() {
      return retries;
    },
  };
}
