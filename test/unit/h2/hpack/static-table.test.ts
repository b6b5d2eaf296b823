// SPDX-License-Identifier: Apache-2.0
// The HPACK static table matches RFC 7541 Appendix A, and its encoder index finds the lowest index per name.

import { describe, expect, it } from 'vitest';
import {
  STATIC_BY_NAME,
  STATIC_NAMES,
  STATIC_TABLE_LENGTH,
  STATIC_VALUES,
} from '../../../../src/h2/hpack/static-table.js';

describe('static table', () => {
  it('has 61 entries with names and values aligned to HPACK indices 1..61', () => {
    expect(STATIC_TABLE_LENGTH).toBe(61);
    expect(STATIC_NAMES).toHaveLength(62);
    expect(STATIC_VALUES).toHaveLength(62);
  });

  it('holds the Appendix A entries at their indices', () => {
    const spot: Array<[number, string, string]> = [
      [1, ':authority', ''],
      [2, ':method', 'GET'],
      [3, ':method', 'POST'],
      [5, ':path', '/index.html'],
      [7, ':scheme', 'https'],
      [8, ':status', '200'],
      [14, ':status', '500'],
      [16, 'accept-encoding', 'gzip, deflate'],
      [28, 'content-length', ''],
      [31, 'content-type', ''],
      [58, 'user-agent', ''],
      [61, 'www-authenticate', ''],
    ];
    for (const [i, name, value] of spot) expect([i, STATIC_NAMES[i], STATIC_VALUES[i]]).toEqual([i, name, value]);
  });

  it('indexes every name at its lowest index and every (name, value) pair exactly', () => {
    expect(STATIC_BY_NAME.get(':status')?.nameIndex).toBe(8);
    expect(STATIC_BY_NAME.get(':status')?.values.get('404')).toBe(13);
    expect(STATIC_BY_NAME.get(':method')?.values.get('POST')).toBe(3);
    expect(STATIC_BY_NAME.get('content-type')?.values.get('application/grpc')).toBeUndefined();
    for (let i = 1; i <= STATIC_TABLE_LENGTH; i++) {
      const e = STATIC_BY_NAME.get(STATIC_NAMES[i] as string);
      expect(e?.values.get(STATIC_VALUES[i] as string)).toBe(i);
    }
  });
});
