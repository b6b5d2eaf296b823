// SPDX-License-Identifier: Apache-2.0
// The two guards of calls (issue 14, docs/decisions.md §15): a call without a deadline whose response has not
// started within unaryTimeoutMs, and a call with no DATA either way for idleTimeoutMs. Pure: times are given.
import { describe, expect, it } from 'vitest';
import { StreamWatch, type StreamWatchObservation } from '../../../src/resilience/stream-watch.js';

const quiet: StreamWatchObservation = { activity: 0, responseStarted: false, requestOpen: false };

/** Runs checks at each `next` until a verdict or `until`; `seen(t)` says what the call looks like at t. */
function runUntil(watch: StreamWatch, until: number, seen: (t: number) => StreamWatchObservation): { verdict: string | undefined; at: number } {
  while (watch.next <= until) {
    const t = watch.next;
    const verdict = watch.check(t, seen(t));
    if (verdict !== undefined) return { verdict, at: t };
  }
  return { verdict: undefined, at: Infinity };
}

describe('StreamWatch', () => {
  it('ends a call whose response never starts at exactly unaryTimeoutMs after arrival', () => {
    const w = new StreamWatch({ startMs: 1000, unaryTimeoutMs: 15_000, idleTimeoutMs: 0 });
    expect(w.next).toBe(16_000);
    expect(w.check(15_999, quiet)).toBeUndefined();
    expect(w.check(16_000, quiet)).toBe('unary');
  });

  it('lifts the unary guard for good once the response has started (a stream answering is not cut)', () => {
    const w = new StreamWatch({ startMs: 0, unaryTimeoutMs: 100, idleTimeoutMs: 0 });
    expect(w.check(50, { ...quiet, responseStarted: true })).toBeUndefined();
    expect(w.next).toBe(Infinity);
  });

  it('leaves a call whose client is still sending at the unary due time to the idle guard', () => {
    const w = new StreamWatch({ startMs: 0, unaryTimeoutMs: 100, idleTimeoutMs: 1000 });
    // Activity keeps changing: the client streams. The unary due time passes without a verdict.
    const r = runUntil(w, 5000, (t) => ({ activity: Math.floor(t / 10), responseStarted: false, requestOpen: true }));
    expect(r.verdict).toBeUndefined();
  });

  it('does nothing with both guards off', () => {
    expect(new StreamWatch({ startMs: 0, unaryTimeoutMs: 0, idleTimeoutMs: 0 }).next).toBe(Infinity);
  });

  it('ends a silent call between 1 and 1.25 times idleTimeoutMs after its last activity', () => {
    for (const lastActivityAt of [0, 1, 249, 250, 251, 777, 999]) {
      const w = new StreamWatch({ startMs: 0, unaryTimeoutMs: 0, idleTimeoutMs: 1000 });
      const r = runUntil(w, 100_000, (t) => ({ activity: t >= lastActivityAt && lastActivityAt > 0 ? 1 : 0, responseStarted: true, requestOpen: true }));
      expect(r.verdict).toBe('idle');
      const silence = r.at - lastActivityAt;
      expect(silence, `last activity at ${lastActivityAt}`).toBeGreaterThanOrEqual(1000);
      expect(silence, `last activity at ${lastActivityAt}`).toBeLessThanOrEqual(1250);
    }
  });

  it('never ends a call that keeps moving data, however long it lasts', () => {
    const w = new StreamWatch({ startMs: 0, unaryTimeoutMs: 100, idleTimeoutMs: 1000 });
    // A server stream: response started at 10 ms, a message every 300 ms for an hour.
    const r = runUntil(w, 3_600_000, (t) => ({ activity: Math.floor(t / 300), responseStarted: t >= 10, requestOpen: false }));
    expect(r.verdict).toBeUndefined();
  });

  it('checks the idle guard every quarter of its timeout', () => {
    const w = new StreamWatch({ startMs: 0, unaryTimeoutMs: 0, idleTimeoutMs: 1000 });
    expect(w.next).toBe(250);
    w.check(250, { ...quiet, activity: 5 });
    expect(w.next).toBe(500);
  });

  it('with idleCheckMs, ends a silent call between idleTimeoutMs and idleTimeoutMs + 2 × idleCheckMs after its last activity', () => {
    for (const lastActivityAt of [1, 49, 50, 51, 333]) {
      const w = new StreamWatch({ startMs: 0, unaryTimeoutMs: 0, idleTimeoutMs: 1000, idleCheckMs: 50 });
      const r = runUntil(w, 100_000, (t) => ({ activity: t >= lastActivityAt ? 1 : 0, responseStarted: true, requestOpen: true }));
      expect(r.verdict).toBe('idle');
      expect(r.at - lastActivityAt).toBeGreaterThanOrEqual(1000);
      expect(r.at - lastActivityAt).toBeLessThanOrEqual(1100);
    }
  });
});
