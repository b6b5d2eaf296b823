// SPDX-License-Identifier: Apache-2.0
// Peak-EWMA endpoint load: in-flight counting, peaks taken at once, smoothed decay, cost, injected time.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_DECAY_MS, DEFAULT_FAILURE_PENALTY_MS, DEFAULT_RTT_MS, createEndpointLoad } from '../../../src/balance/endpoint-load.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('createEndpointLoad', () => {
  it('starts at a 30 ms estimate (Linkerd), 1 s decay (issue 13), nothing in flight', () => {
    const load = createEndpointLoad({ nowMs: 0 });
    expect(DEFAULT_RTT_MS).toBe(30);
    expect(DEFAULT_DECAY_MS).toBe(1000);
    expect(load.ewmaMs).toBe(30);
    expect(load.inflight).toBe(0);
    expect(load.cost(0)).toBe(30);
  });

  it('counts attempts in flight and ends each one exactly once', () => {
    const load = createEndpointLoad({ nowMs: 0 });
    const done1 = load.start(0);
    const done2 = load.start(0);
    expect(load.inflight).toBe(2);
    done1(10);
    done1(20); // a reply and a cancel both reporting the end
    expect(load.inflight).toBe(1);
    done2(10);
    expect(load.inflight).toBe(0);
  });

  it('takes a sample above the estimate at once (peak)', () => {
    const load = createEndpointLoad({ nowMs: 0 });
    load.start(0)(250);
    expect(load.ewmaMs).toBe(250);
  });

  it('moves toward a lower sample with weight exp(-elapsed/decay)', () => {
    const load = createEndpointLoad({ nowMs: 0, decayMs: 10_000 });
    load.start(0)(100); // peak: estimate 100 at t=100
    load.start(10_090)(10_100); // rtt 10, 10 000 ms after the last update: w = 1/e
    const w = Math.exp(-1);
    expect(load.ewmaMs).toBeCloseTo(100 * w + 10 * (1 - w), 9);
  });

  it('barely moves on a low sample right after an update (smoothed decay)', () => {
    const load = createEndpointLoad({ nowMs: 0, decayMs: 10_000 });
    load.start(0)(100);
    load.start(100)(101); // rtt 1, 1 ms later
    expect(load.ewmaMs).toBeGreaterThan(99.98);
    expect(load.ewmaMs).toBeLessThan(100);
  });

  it('compares a peak against the estimate decayed to the sample time', () => {
    const load = createEndpointLoad({ nowMs: 0, decayMs: 10_000 });
    load.start(0)(100); // 100 at t=100
    // 10 s later the estimate has decayed to ~36.8; a 50 ms sample is a new peak.
    load.start(10_050)(10_100);
    expect(load.ewmaMs).toBe(50);
  });

  it('costs estimate x (in-flight + 1)', () => {
    const load = createEndpointLoad({ nowMs: 0 });
    load.start(0)(40); // estimate 40 at t=40
    load.start(40);
    load.start(40);
    expect(load.inflight).toBe(2);
    expect(load.cost(40)).toBe(120);
  });

  it('decays the cost of an idle endpoint toward 0 on read, from the elapsed time, without changing the estimate', () => {
    const load = createEndpointLoad({ nowMs: 0, decayMs: 10_000 });
    load.start(0)(100);
    expect(load.cost(100)).toBe(100);
    expect(load.cost(10_100)).toBeCloseTo(100 * Math.exp(-1), 9);
    expect(load.cost(100_100)).toBeLessThan(0.01);
    expect(load.ewmaMs).toBe(100);
    expect(load.cost(10_100)).toBeCloseTo(100 * Math.exp(-1), 9); // reading is pure
  });

  it('decays the default estimate from nowMs, so a new endpoint is tried after a while', () => {
    const load = createEndpointLoad({ nowMs: 1000, defaultRttMs: 500, decayMs: 10_000 });
    expect(load.cost(1000)).toBe(500);
    expect(load.cost(11_000)).toBeCloseTo(500 * Math.exp(-1), 9);
  });

  it('does not decay the default estimate before the first start when nowMs is not given', () => {
    const load = createEndpointLoad({ decayMs: 10_000 });
    expect(load.cost(1_000_000)).toBe(30);
    load.start(1_000_000);
    expect(load.cost(1_010_000)).toBeCloseTo(2 * 30 * Math.exp(-1), 9);
  });

  it('keeps in-flight counts comparable once the estimate has decayed to 0', () => {
    const load = createEndpointLoad({ nowMs: 0 });
    load.start(0)(0); // a 0 ms sample from a coarse clock
    const idle = load.cost(1e9);
    load.start(1e9);
    expect(load.cost(1e9)).toBeGreaterThan(idle);
    expect(idle).toBeGreaterThan(0);
  });

  it('clamps a clock that goes backwards: no negative rtt, no growth from negative elapsed', () => {
    const load = createEndpointLoad({ nowMs: 1000 });
    load.start(1000)(500);
    expect(load.ewmaMs).toBe(30);
    expect(load.cost(0)).toBe(30);
  });

  it('honours custom defaultRttMs and decayMs', () => {
    const load = createEndpointLoad({ nowMs: 0, defaultRttMs: 5, decayMs: 1000 });
    expect(load.ewmaMs).toBe(5);
    load.start(0)(100);
    load.start(1090)(1100); // rtt 10, 1000 ms after the update: w = 1/e
    const w = Math.exp(-1);
    expect(load.ewmaMs).toBeCloseTo(100 * w + 10 * (1 - w), 9);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('rejects defaultRttMs / decayMs / failurePenaltyMs %s', (bad) => {
    expect(() => createEndpointLoad({ defaultRttMs: bad })).toThrow(RangeError);
    expect(() => createEndpointLoad({ decayMs: bad })).toThrow(RangeError);
    expect(() => createEndpointLoad({ failurePenaltyMs: bad })).toThrow(RangeError);
  });

  it('counts a fast failure as a failurePenaltyMs peak that then decays (Finagle-style penalty)', () => {
    const load = createEndpointLoad({ nowMs: 0 });
    const done = load.start(0);
    done(1); // failed after 1 ms
    load.fail(1);
    expect(DEFAULT_FAILURE_PENALTY_MS).toBe(1000);
    expect(load.ewmaMs).toBe(1000);
    expect(load.cost(1 + DEFAULT_DECAY_MS)).toBeCloseTo(1000 * Math.exp(-1), 9);
    const custom = createEndpointLoad({ nowMs: 0, failurePenaltyMs: 200 });
    custom.start(0)(500);
    custom.fail(500); // slower than the penalty: the latency counts, not the penalty
    expect(custom.ewmaMs).toBe(500);
  });

  it('never reads a real clock', () => {
    vi.spyOn(Date, 'now').mockImplementation(() => {
      throw new Error('Date.now read');
    });
    vi.spyOn(performance, 'now').mockImplementation(() => {
      throw new Error('performance.now read');
    });
    const load = createEndpointLoad();
    const done = load.start(5);
    load.cost(6);
    done(7); // rtt 2, 2 ms after the start anchored the estimate
    const w = Math.exp(-2 / DEFAULT_DECAY_MS);
    expect(load.ewmaMs).toBeCloseTo(30 * w + 2 * (1 - w), 9);
  });
});
