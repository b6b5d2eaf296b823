// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { formatGrpcTimeout, parseGrpcTimeout } from '../../../src/grpc/timeout.js';

describe('grpc-timeout', () => {
  it.each([
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['3S', 3000],
    ['100m', 100],
    ['250u', 0.25],
    ['99999999n', 99.999999],
  ])('parses %s as %f ms', (v, ms) => expect(parseGrpcTimeout(v)).toBeCloseTo(ms, 9));

  it.each(['', 'S', '1', '1s', '123456789S', '-1S', '1.5S', ' 1S'])('rejects malformed %j', (v) => expect(parseGrpcTimeout(v)).toBeUndefined());

  it('formats with at most 8 digits, rounding up, and round-trips within one unit', () => {
    for (const ms of [0.0005, 0.5, 1, 99, 1234.5678, 99_999, 3_600_000, 86_400_000 * 30]) {
      const v = formatGrpcTimeout(ms);
      expect(v).toMatch(/^\d{1,8}[HMSmun]$/);
      const back = parseGrpcTimeout(v) as number;
      expect(back).toBeGreaterThanOrEqual(ms);
      expect(back - ms).toBeLessThanOrEqual(ms * 0.001 + 0.001);
    }
  });

  it('never formats an exhausted budget as 0 (that would read as expired-or-none)', () => {
    expect(formatGrpcTimeout(0)).toBe('1n');
    expect(formatGrpcTimeout(-5)).toBe('1n');
  });
});
