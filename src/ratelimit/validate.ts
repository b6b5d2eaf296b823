// SPDX-License-Identifier: Apache-2.0
// The checks of the `rateLimits` section that span fields: unique names, `match.backend` only on outbound limits,
// `failureMode` only on global ones, `callerHeader` only with a `caller` descriptor, no repeated descriptor. Pure;
// called by the policy loader's cross-field pass (src/policy/load.ts), which places each issue at file:line:column.

import type { RateLimitInput } from './schema.js';

export interface RateLimitIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** Every issue of `rateLimits` (the section of a schema-valid policy), in document order. */
export function rateLimitIssues(limits: readonly RateLimitInput[] | undefined): RateLimitIssue[] {
  if (limits === undefined) return [];
  const out: RateLimitIssue[] = [];
  const names = new Map<string, number>();
  limits.forEach((l, i) => {
    const at = ['rateLimits', i];
    const first = names.get(l.name);
    if (first !== undefined) out.push({ path: [...at, 'name'], message: `name "${l.name}" is already used by rateLimits[${first}]` });
    else names.set(l.name, i);
    if ((l.direction ?? 'inbound') === 'inbound' && l.match?.backend !== undefined) {
      out.push({ path: [...at, 'match', 'backend'], message: 'an inbound limit counts calls to this service: match.backend needs `direction: outbound`' });
    }
    if ((l.scope ?? 'local') === 'local' && l.failureMode !== undefined) {
      out.push({ path: [...at, 'failureMode'], message: 'failureMode applies to `scope: global` only (a local limit never depends on Redis)' });
    }
    const by = l.by ?? [];
    if (l.callerHeader !== undefined && !by.includes('caller')) {
      out.push({ path: [...at, 'callerHeader'], message: 'callerHeader is read only for a `caller` descriptor: add caller to `by`' });
    }
    by.forEach((d, j) => {
      if (by.indexOf(d) !== j) out.push({ path: [...at, 'by', j], message: `descriptor "${d}" is listed twice` });
    });
  });
  return out;
}
