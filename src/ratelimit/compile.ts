// SPDX-License-Identifier: Apache-2.0
// Compiles the policy's `rateLimits` into matchers the rate-limit layer runs per call: defaults applied, rates
// parsed, descriptors parsed, and a cache of the limits that match each (direction, backend, path). Pure; compiled
// once per policy snapshot.

import { parseDescriptor, type Descriptor } from './descriptor.js';
import { parseRate } from './rate.js';
import { RATE_LIMIT_DEFAULTS, type RateLimitInput } from './schema.js';

export type Direction = 'inbound' | 'outbound';

/** One limit with every default applied. */
export interface CompiledRateLimit {
  readonly name: string;
  readonly direction: Direction;
  readonly backend: string | undefined;
  readonly method: string | undefined;
  /** Tokens per second. */
  readonly perSecond: number;
  readonly rate: string;
  /** Bucket size, tokens. */
  readonly burst: number;
  readonly mode: 'off' | 'shadow' | 'enforce';
  readonly scope: 'local' | 'global';
  readonly by: readonly Descriptor[];
  readonly byText: readonly string[];
  readonly callerHeader: string | undefined;
  readonly failureMode: 'open' | 'closed';
  /**
   * What identifies the bucket state: name + scope + rate + burst + descriptors. A reload that keeps it keeps
   * the buckets (their tokens); one that changes it starts fresh buckets.
   */
  readonly signature: string;
}

/** The most distinct (direction, backend, path) entries cached before the cache is cleared. */
const MAX_CACHED = 10_000;

export class CompiledRateLimits {
  readonly all: readonly CompiledRateLimit[];
  private readonly cache = new Map<string, readonly CompiledRateLimit[]>();

  constructor(input: readonly RateLimitInput[] | undefined) {
    this.all = (input ?? []).map(compileLimit).filter((l) => l.mode !== 'off');
  }

  /** The limits (mode shadow or enforce) that count a call, in policy order. */
  matching(direction: Direction, backend: string | undefined, path: string): readonly CompiledRateLimit[] {
    if (this.all.length === 0) return this.all;
    const k = `${direction} ${backend ?? ''} ${path}`;
    let found = this.cache.get(k);
    if (found === undefined) {
      found = this.all.filter((l) => limitMatches(l, direction, backend, path));
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(k, found);
    }
    return found;
  }
}

/** Applies the defaults to one schema-valid limit. */
export function compileLimit(l: RateLimitInput): CompiledRateLimit {
  const rate = parseRate(l.rate);
  if (rate === undefined) throw new Error(`invariant: rate ${l.rate} passed the schema but does not parse`);
  const burst = l.burst ?? rate.count;
  const scope = l.scope ?? RATE_LIMIT_DEFAULTS.scope;
  const byText = l.by ?? [];
  return {
    name: l.name,
    direction: l.direction ?? RATE_LIMIT_DEFAULTS.direction,
    backend: l.match?.backend,
    method: l.match?.method,
    perSecond: rate.perSecond,
    rate: l.rate,
    burst,
    mode: l.mode ?? RATE_LIMIT_DEFAULTS.mode,
    scope,
    by: byText.map(parseDescriptor),
    byText,
    callerHeader: l.callerHeader,
    failureMode: l.failureMode ?? RATE_LIMIT_DEFAULTS.failureMode,
    signature: `${l.name}|${scope}|${rate.perSecond}|${burst}|${byText.join(',')}|${l.callerHeader ?? ''}`,
  };
}

/** Whether `limit` counts a call in `direction` to `backend` (outbound) on `path` (`/pkg.Service/Method`). */
export function limitMatches(limit: CompiledRateLimit, direction: Direction, backend: string | undefined, path: string): boolean {
  if (limit.direction !== direction) return false;
  if (limit.backend !== undefined && limit.backend !== backend) return false;
  const m = limit.method;
  if (m === undefined || m === '*') return true;
  if (m.endsWith('/*')) return path.startsWith(`/${m.slice(0, -1)}`);
  return path === `/${m}`;
}
