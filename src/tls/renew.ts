// SPDX-License-Identifier: Apache-2.0
// When to renew a leaf, pure: at a fraction of its lifetime (rotateAtFraction, default half-life), never in the
// past. Plus the timer interface the renewing sources take, so tests drive them with a fake clock.

/**
 * The time (ms since the epoch) to renew a certificate valid from `notBefore` to `notAfter`:
 * `notBefore + fraction × (notAfter − notBefore)`, or `now` when that has passed (renew at once). `fraction` is
 * clamped to [0, 1]. A certificate with no lifetime (notAfter ≤ notBefore) is due now.
 */
export function nextRenewAt(notBefore: Date | number, notAfter: Date | number, fraction: number, now: number): number {
  const from = typeof notBefore === 'number' ? notBefore : notBefore.getTime();
  const to = typeof notAfter === 'number' ? notAfter : notAfter.getTime();
  if (!(to > from)) return now;
  const f = Math.min(1, Math.max(0, fraction));
  return Math.max(now, from + Math.floor(f * (to - from)));
}

/** Wall clock and timers, injectable. */
export interface RenewClock {
  /** ms since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Longest single timer, ms; Node fires timers above 2^31-1 ms at once, so callers split longer waits into hops. */
export const MAX_TIMER_MS = 2_147_483_647;

/** Date.now and Node timers that never keep the process alive. */
export const systemRenewClock: RenewClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.min(ms, MAX_TIMER_MS)).unref(),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
