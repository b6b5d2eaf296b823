// SPDX-License-Identifier: Apache-2.0
// Parses a rate (`100/s`, `6000/m`, `10/h`) into tokens per second. Pure.

import { RATE_PATTERN } from './schema.js';

const UNIT_SECONDS = { s: 1, m: 60, h: 3600 } as const;

/** A parsed rate: `count` calls per `unitSeconds`. */
export interface Rate {
  readonly count: number;
  readonly unitSeconds: number;
  /** count / unitSeconds. */
  readonly perSecond: number;
}

/** Parses `<count>/<s|m|h>`; undefined when malformed (the schema rejects those first). */
export function parseRate(text: string): Rate | undefined {
  const m = RATE_PATTERN.exec(text);
  if (m === null) return undefined;
  const count = Number(m[1]);
  const unitSeconds = UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
  return { count, unitSeconds, perSecond: count / unitSeconds };
}
