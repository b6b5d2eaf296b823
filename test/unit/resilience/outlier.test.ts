// SPDX-License-Identifier: Apache-2.0
// Outlier detection: consecutive failures eject, penalties grow with jitter within bounds, one probe decides,
// and never more than the configured share of endpoints is out.
import { describe, expect, it } from 'vitest';
import { createOutlierDetector, type OutlierPolicy } from '../../../src/resilience/outlier.js';

const policy: OutlierPolicy = {
  consecutiveFailures: 3,
  baseEjectionMs: 1000,
  maxEjectionMs: 60_000,
  jitterPercent: 50,
  maxEjectedPercent: 50,
};

function failTimes(d: ReturnType<typeof createOutlierDetector>, address: string, n: number, now: number, count = 3) {
  let last;
  for (let i = 0; i < n; i++) last = d.record(address, 'failure', now, count);
  return last;
}

describe('createOutlierDetector', () => {
  it('ejects after N consecutive failures; a success in between starts the count over', () => {
    const d = createOutlierDetector(policy, () => 0);
    expect(failTimes(d, 'a', 2, 0)).toBeUndefined();
    d.record('a', 'success', 0, 3);
    expect(failTimes(d, 'a', 2, 0)).toBeUndefined();
    expect(d.record('a', 'failure', 0, 3)).toEqual({ kind: 'eject', penaltyMs: 1000, untilMs: 1000 });
    expect(d.get('a').health).toBe('ejected');
    expect(d.ejectedCount).toBe(1);
  });

  it('neutral outcomes (cancelled, local rejections) neither count nor reset', () => {
    const d = createOutlierDetector(policy, () => 0);
    failTimes(d, 'a', 2, 0);
    d.record('a', 'neutral', 0, 3);
    expect(d.record('a', 'failure', 0, 3)?.kind).toBe('eject');
  });

  it('moves to probation only once the penalty is over, then one probe restores it', () => {
    const d = createOutlierDetector(policy, () => 0);
    failTimes(d, 'a', 3, 0);
    expect(d.expire('a', 999)).toBeUndefined();
    expect(d.expire('a', 1000)).toEqual({ kind: 'probation' });
    expect(d.beginProbe('a')).toBe(true);
    expect(d.beginProbe('a')).toBe(false); // one probe at a time
    expect(d.get('a').health).toBe('probing');
    expect(d.recordProbe('a', 'success', 1100)).toEqual({ kind: 'restore' });
    expect(d.get('a')).toMatchObject({ health: 'active', ejections: 0, consecutiveFailures: 0 });
    expect(d.ejectedCount).toBe(0);
  });

  it('a failed probe ejects again with a doubled penalty; penalties are capped at maxEjectionMs', () => {
    const d = createOutlierDetector({ ...policy, maxEjectionMs: 3000, jitterPercent: 0 }, () => 0.9);
    failTimes(d, 'a', 3, 0);
    const penalties: number[] = [1000];
    let now = 1000;
    for (let i = 0; i < 3; i++) {
      d.expire('a', now);
      d.beginProbe('a');
      const t = d.recordProbe('a', 'failure', now);
      if (t?.kind !== 'eject') throw new Error('expected a re-ejection');
      penalties.push(t.penaltyMs);
      now = t.untilMs;
    }
    expect(penalties).toEqual([1000, 2000, 3000, 3000]);
  });

  it('adds up to jitterPercent of the penalty at random, within [base, max]', () => {
    const low = createOutlierDetector(policy, () => 0);
    const high = createOutlierDetector(policy, () => 0.999);
    expect((failTimes(low, 'a', 3, 0) as { penaltyMs: number }).penaltyMs).toBe(1000);
    expect((failTimes(high, 'a', 3, 0) as { penaltyMs: number }).penaltyMs).toBe(1500);
    const capped = createOutlierDetector({ ...policy, baseEjectionMs: 60_000 }, () => 0.999);
    expect((failTimes(capped, 'a', 3, 0) as { penaltyMs: number }).penaltyMs).toBe(60_000);
  });

  // Issue 13: with 3 endpoints and 50 %, a second failing endpoint was never ejected (floor(1.5) = 1).
  it.each([
    // [endpoints, maxEjectedPercent, how many of them, all failing, end up ejected]
    [2, 50, 1],
    [2, 0, 1],
    [2, 100, 2],
    [3, 50, 2],
    [3, 10, 1],
    [10, 50, 5],
    [10, 10, 1],
    [10, 0, 1],
    [10, 25, 3],
  ])('with %i endpoints all failing and maxEjectedPercent %i, ejects %i', (n, percent, expected) => {
    const d = createOutlierDetector({ ...policy, maxEjectedPercent: percent }, () => 0);
    let ejected = 0;
    for (let i = 0; i < n; i++) if (failTimes(d, `e${i}`, 3, 0, n)?.kind === 'eject') ejected++;
    expect(ejected).toBe(expected);
    expect(d.ejectedCount).toBe(expected);
  });

  it('never ejects more than maxEjectedPercent of the endpoints (rounded down): with one endpoint, none', () => {
    const single = createOutlierDetector(policy, () => 0);
    expect(failTimes(single, 'a', 3, 0, 1)).toEqual({ kind: 'eject-skipped' });
    expect(single.get('a').health).toBe('active');

    const d = createOutlierDetector(policy, () => 0);
    expect(failTimes(d, 'a', 3, 0, 4)?.kind).toBe('eject');
    expect(failTimes(d, 'b', 3, 0, 4)?.kind).toBe('eject');
    expect(failTimes(d, 'c', 3, 0, 4)).toEqual({ kind: 'eject-skipped' });
    // Endpoints on probation still count toward the share.
    d.expire('a', 1000);
    expect(failTimes(d, 'c', 3, 1000, 4)).toEqual({ kind: 'eject-skipped' });
  });

  it('ignores outcomes of calls that were in flight when it was ejected', () => {
    const d = createOutlierDetector(policy, () => 0);
    failTimes(d, 'a', 3, 0);
    expect(d.record('a', 'success', 10, 3)).toBeUndefined();
    expect(d.get('a').health).toBe('ejected');
  });

  it('a neutral probe returns it to probation for the next call', () => {
    const d = createOutlierDetector(policy, () => 0);
    failTimes(d, 'a', 3, 0);
    d.expire('a', 1000);
    d.beginProbe('a');
    expect(d.recordProbe('a', 'neutral', 1000)).toBeUndefined();
    expect(d.get('a').health).toBe('probation');
    expect(d.beginProbe('a')).toBe(true);
  });

  it('retain() forgets endpoints that left the backend (and frees their share); reset() forgets everything', () => {
    const d = createOutlierDetector(policy, () => 0);
    failTimes(d, 'a', 3, 0, 4);
    failTimes(d, 'b', 3, 0, 4);
    d.retain(new Set(['b', 'c']));
    expect(d.ejectedCount).toBe(1);
    expect(d.ejected().map((s) => s.address)).toEqual(['b']);
    expect(d.reset()).toEqual(['b']);
    expect(d.ejectedCount).toBe(0);
  });
});
