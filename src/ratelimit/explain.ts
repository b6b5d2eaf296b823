// SPDX-License-Identifier: Apache-2.0
// `meshlet explain --inbound`: the rate limits an inbound call meets, each with its rate, burst, scope, mode and the
// bucket the call would spend from (its descriptor values). Pure: takes the policy section, returns text lines.

import { CompiledRateLimits } from './compile.js';
import { descriptorKey } from './descriptor.js';
import type { RateLimitInput } from './schema.js';

export interface RateLimitExplainInput {
  readonly rateLimits: readonly RateLimitInput[] | undefined;
  /** `pkg.Service/Method`. */
  readonly method: string;
  /** The caller's verified SPIFFE ID; undefined for a caller without one. */
  readonly identity: string | undefined;
  /** Request metadata (lowercase keys). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** Lines for the inbound limits a call meets, in policy order (every one must admit the call). */
export function explainInboundRateLimits(input: RateLimitExplainInput): string[] {
  const path = `/${input.method}`;
  const limits = new CompiledRateLimits(input.rateLimits).matching('inbound', undefined, path);
  const out = ['', 'rateLimits (inbound, every one must admit the call)'];
  if (limits.length === 0) {
    out.push('  none matches this call');
    return out;
  }
  for (const l of limits) {
    const key = descriptorKey(l.by, { path, identity: input.identity, headers: input.metadata }, l.callerHeader);
    const bucket = l.byText.length === 0 ? 'one bucket for every call matched' : `bucket ${l.byText.map((d, i) => `${d}=${key.split('\u0000')[i]}`).join(', ')}`;
    out.push(`  ${l.name}: ${l.rate} burst ${l.burst}, ${l.scope}${l.scope === 'global' ? ` (failureMode ${l.failureMode})` : ''}, ${l.mode}; ${bucket}`);
  }
  return out;
}
