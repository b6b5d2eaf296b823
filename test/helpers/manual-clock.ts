// SPDX-License-Identifier: Apache-2.0
// A manual clock for sources that take a RenewClock-shaped clock (src/tls/renew.ts): time moves only when the test
// says, and due timers run only from `advance`.

export interface ManualClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Timers armed and not yet run or cleared. */
  pending(): number;
  /** When the earliest pending timer is due (ms since the epoch), or undefined. */
  nextAt(): number | undefined;
  /** Moves time forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void;
}

export function createManualClock(start: number): ManualClock {
  let t = start;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => t,
    setTimeout(fn, ms) {
      seq += 1;
      timers.set(seq, { at: t + Math.max(0, ms), fn });
      return seq;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    pending: () => timers.size,
    nextAt: () => (timers.size === 0 ? undefined : Math.min(...[...timers.values()].map((x) => x.at))),
    advance(ms) {
      const end = t + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (due === undefined) break;
        timers.delete(due[0]);
        t = due[1].at;
        due[1].fn();
      }
      t = end;
    },
  };
}
