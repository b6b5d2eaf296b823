// SPDX-License-Identifier: Apache-2.0
// The failure-rate breaker: opens on the failure share of the last N calls, fails fast while open, moves to
// half-open on read once the open period is over (no execute() needed), one probe decides.
import { describe, expect, it } from 'vitest';
import type { BreakerState } from '../../../src/resilience/events.js';
import { createFailureRateBreaker } from '../../../src/resilience/circuit-breaker.js';

const policy = { failureRatePercent: 50, windowCalls: 10, minimumCalls: 4, openMs: 1000, maxOpenMs: 3000 };

function breaker() {
  const states: BreakerState[] = [];
  const b = createFailureRateBreaker(policy, (s) => states.push(s));
  return { b, states };
}

describe('createFailureRateBreaker', () => {
  it('stays closed below minimumCalls, whatever the failure share', () => {
    const { b } = breaker();
    for (let i = 0; i < 3; i++) b.record('failure', 0);
    expect(b.state).toBe('closed');
    expect(b.admit(0)).toBe('admit');
  });

  it('opens when more than failureRatePercent of the window failed, and rejects until openMs passed', () => {
    const { b, states } = breaker();
    b.record('success', 0);
    b.record('failure', 0);
    b.record('success', 0);
    b.record('failure', 0); // 2/4 = 50 %: not more than 50 %
    expect(b.state).toBe('closed');
    b.record('failure', 10); // 3/5
    expect(b.state).toBe('open');
    expect(states).toEqual(['open']);
    expect(b.admit(500)).toBe('reject');
    expect(b.admit(1009)).toBe('reject');
  });

  it('moves to half-open on the first admit after the open period (no timer, no execute) and lets one probe through', () => {
    const { b, states } = breaker();
    for (let i = 0; i < 4; i++) b.record('failure', 0);
    expect(b.admit(1000)).toBe('probe');
    expect(b.state).toBe('half-open');
    expect(b.admit(1001)).toBe('reject');
    expect(states).toEqual(['open', 'half-open']);
  });

  it('closes with an empty window after a successful probe', () => {
    const { b } = breaker();
    for (let i = 0; i < 4; i++) b.record('failure', 0);
    b.admit(1000);
    b.recordProbe('success', 1100);
    expect(b.state).toBe('closed');
    // The old failures are gone: three more failures alone do not reach minimumCalls.
    for (let i = 0; i < 3; i++) b.record('failure', 1200);
    expect(b.state).toBe('closed');
  });

  it('reopens for twice as long after a failed probe, capped at maxOpenMs', () => {
    const { b } = breaker();
    for (let i = 0; i < 4; i++) b.record('failure', 0);
    expect(b.admit(1000)).toBe('probe');
    b.recordProbe('failure', 1000);
    expect(b.admit(2999)).toBe('reject');
    expect(b.admit(3000)).toBe('probe');
    b.recordProbe('failure', 3000);
    expect(b.admit(5999)).toBe('reject'); // 3000 ms, not 4000: capped at maxOpenMs
    expect(b.admit(6000)).toBe('probe');
  });

  it('a neutral probe (cancelled) leaves it half-open for the next call to probe', () => {
    const { b } = breaker();
    for (let i = 0; i < 4; i++) b.record('failure', 0);
    b.admit(1000);
    b.recordProbe('neutral', 1000);
    expect(b.state).toBe('half-open');
    expect(b.admit(1001)).toBe('probe');
  });

  it('ignores neutral outcomes and late outcomes of calls admitted before it opened', () => {
    const { b } = breaker();
    for (let i = 0; i < 10; i++) b.record('neutral', 0);
    expect(b.state).toBe('closed');
    for (let i = 0; i < 4; i++) b.record('failure', 0);
    b.record('success', 1);
    expect(b.state).toBe('open');
  });

  it('keeps its state across reconfigure; a new window shape starts an empty window', () => {
    const { b } = breaker();
    for (let i = 0; i < 4; i++) b.record('failure', 0);
    b.reconfigure({ ...policy, windowCalls: 20 });
    expect(b.state).toBe('open');
    expect(b.admit(1000)).toBe('probe');
  });
});
