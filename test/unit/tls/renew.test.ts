// SPDX-License-Identifier: Apache-2.0
// nextRenewAt (src/tls/renew.ts): renew at a fraction of the lifetime, never in the past.
import { describe, expect, it } from 'vitest';
import { nextRenewAt } from '../../../src/tls/renew.js';

const H = 3_600_000;

describe('nextRenewAt', () => {
  it.each([
    ['half-life of a 24 h leaf', 0, 24 * H, 0.5, 0, 12 * H],
    ['a tenth of the lifetime', 0, 10 * H, 0.1, 0, 1 * H],
    ['0.9 of the lifetime', 0, 10 * H, 0.9, 5 * H, 9 * H],
    ['counts from notBefore, not from now', 1000, 1000 + 24 * H, 0.5, 2 * H, 1000 + 12 * H],
    ['past the renewal point: now', 0, 24 * H, 0.5, 13 * H, 13 * H],
    ['already expired: now', 0, 24 * H, 0.5, 30 * H, 30 * H],
    ['no lifetime at all: now', 5000, 5000, 0.5, 100, 100],
    ['fraction above 1 is clamped to expiry', 0, 10 * H, 3, 0, 10 * H],
    ['fraction below 0 is clamped to notBefore, so now', 0, 10 * H, -1, 7, 7],
  ])('%s', (_name, notBefore, notAfter, fraction, now, expected) => {
    expect(nextRenewAt(notBefore, notAfter, fraction, now)).toBe(expected);
  });

  it('takes Dates', () => {
    expect(nextRenewAt(new Date(0), new Date(4 * H), 0.5, 0)).toBe(2 * H);
  });
});
