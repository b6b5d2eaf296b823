// SPDX-License-Identifier: Apache-2.0
// The record of recently closed streams (src/h2/closed-streams.ts): bounded, newest answer wins, and the highest
// forgotten id tells "never opened" from "forgotten".

import { describe, expect, it } from 'vitest';
import { ClosedHow, ClosedStreams } from '../../../src/h2/closed-streams.js';

describe('ClosedStreams', () => {
  it('answers how a recorded stream closed, and Unknown for others', () => {
    const c = new ClosedStreams(4);
    c.add(1, ClosedHow.Ended);
    c.add(3, ClosedHow.ResetSent);
    expect(c.get(1)).toBe(ClosedHow.Ended);
    expect(c.get(3)).toBe(ClosedHow.ResetSent);
    expect(c.get(5)).toBe(ClosedHow.Unknown);
    expect(c.forgottenMax).toBe(0);
  });

  it('keeps only the last `capacity` closes and remembers the highest id it forgot', () => {
    const c = new ClosedStreams(4);
    for (const id of [7, 1, 3, 5, 9, 11]) c.add(id, ClosedHow.ResetReceived);
    expect(c.get(7)).toBe(ClosedHow.Unknown);
    expect(c.get(1)).toBe(ClosedHow.Unknown);
    expect(c.forgottenMax).toBe(7);
    for (const id of [3, 5, 9, 11]) expect(c.get(id)).toBe(ClosedHow.ResetReceived);
  });

  it('a re-recorded id answers with its newest close', () => {
    const c = new ClosedStreams(4);
    c.add(1, ClosedHow.Ended);
    c.add(1, ClosedHow.ResetSent);
    expect(c.get(1)).toBe(ClosedHow.ResetSent);
  });

  it('100,000 closes hold one fixed-size ring', () => {
    const c = new ClosedStreams();
    for (let id = 1; id < 200_000; id += 2) c.add(id, ClosedHow.Ended);
    expect(c.get(199_999)).toBe(ClosedHow.Ended);
    expect(c.get(1)).toBe(ClosedHow.Unknown);
    expect(c.forgottenMax).toBe(199_999 - 2 * 512);
  });
});
