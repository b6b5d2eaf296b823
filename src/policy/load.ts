// SPDX-License-Identifier: Apache-2.0
// The policy document kind: its schema and the checks that span fields (duplicate routes, bounds that depend on
// each other across layers), run by the one config load pipeline (config/load.ts), so every problem is reported
// as file:line:column: path: message. Never throws for a bad policy.

import { formatPath } from '../config/errors.js';
import { loadDocument, loadDocumentText, type DocumentKind, type FieldIssue, type LoadResult } from '../config/load.js';
import type { ConfigSource } from '../config/source.js';
import { authzIssues } from '../authz/validate.js';
import { rateLimitIssues } from '../ratelimit/validate.js';
import { merge, parseMethodPattern, routeLabel } from './match.js';
import { POLICY_DEFAULTS, policySchema, type Policy } from './schema.js';

/**
 * The policy's part of the pipeline. An empty document is an error, so a file truncated mid-write is never taken
 * for "no policy": write `routes: []`.
 */
const POLICY_DOCUMENT: DocumentKind<typeof policySchema> = {
  schema: policySchema,
  emptyMessage: 'the policy document is empty; write `routes: []` for a policy with only built-in defaults',
  crossFieldIssues: (policy) => [...crossFieldIssues(policy), ...authzIssues(policy.authz), ...rateLimitIssues(policy.rateLimits)],
};

/**
 * Loads and validates a policy document. Reports every issue at once, sorted by position: YAML syntax errors
 * alone, else duplicate keys and schema issues together, then (once the schema holds) the cross-field checks.
 */
export function loadPolicy(source: ConfigSource): Promise<LoadResult<Policy>> {
  return loadDocument(source, POLICY_DOCUMENT);
}

/** The same as `loadPolicy` for text already read. */
export function parsePolicy(name: string, text: string): LoadResult<Policy> {
  return loadDocumentText(name, text, POLICY_DOCUMENT);
}

type Obj = Record<string, unknown>;

/** One place settings are written: `defaults`, `backends.<name>` or `routes[i]`, with its path in the document. */
interface Scope {
  readonly path: readonly PropertyKey[];
  readonly values: Obj;
}

/**
 * Rules zod cannot see field by field:
 * - two routes with the same backend and method (the second could never apply), or the same name;
 * - a route that sets nothing;
 * - bounds that must hold on the *effective* values, where one end may come from another layer
 *   (defaults.retry.backoff.maxMs 100 under a route's baseMs 200): backoff, ejection penalty, open period,
 *   breaker window, and a per-try timeout that leaves no time for a retry within the route timeout.
 * An effective violation is reported at the most specific place that sets one of the two fields.
 */
function crossFieldIssues(policy: Policy): FieldIssue[] {
  const out: FieldIssue[] = [];
  const routes = policy.routes ?? [];
  const seenMatch = new Map<string, number>();
  const seenName = new Map<string, number>();
  routes.forEach((r, i) => {
    const method = parseMethodPattern(r.match.method);
    const key = `${r.match.backend ?? '*'} ${method.kind === 'any' ? '*' : r.match.method}`;
    const first = seenMatch.get(key);
    if (first !== undefined) {
      out.push({ path: ['routes', i, 'match'], message: `same match as ${routeLabel(routes[first]!, first)}; only the first could ever apply` });
    } else seenMatch.set(key, i);
    if (r.name !== undefined) {
      const firstName = seenName.get(r.name);
      if (firstName !== undefined) out.push({ path: ['routes', i, 'name'], message: `name "${r.name}" is already used by routes[${firstName}]` });
      else seenName.set(r.name, i);
    }
    if (r.timeoutMs === undefined && r.unaryTimeoutMs === undefined && r.idleTimeoutMs === undefined && r.retry === undefined) {
      out.push({ path: ['routes', i], message: 'the route sets nothing: give it timeoutMs, unaryTimeoutMs, idleTimeoutMs or retry' });
    }
  });

  // Every chain of layers a call can see, most specific scope last.
  const chains: Scope[][] = [];
  const defaults: Scope | undefined = policy.defaults === undefined ? undefined : { path: ['defaults'], values: policy.defaults as Obj };
  const base = defaults === undefined ? [] : [defaults];
  chains.push(base);
  const backendScopes = Object.entries(policy.backends ?? {}).map(([name, v]): Scope => ({ path: ['backends', name], values: v as Obj }));
  for (const b of backendScopes) chains.push([...base, b]);
  routes.forEach((r, i) => {
    const route: Scope = { path: ['routes', i], values: r as Obj };
    const under = r.match.backend === undefined ? [undefined, ...backendScopes] : [backendScopes.find((b) => b.path[1] === r.match.backend)];
    for (const b of under) chains.push([...base, ...(b === undefined ? [] : [b]), route]);
  });

  const reported = new Set<string>();
  const report = (chain: Scope[], a: string[], b: string[], message: (x: number, y: number) => string, ok: (x: number, y: number) => boolean) => {
    const value = merge(POLICY_DEFAULTS as Obj, chain.map((s) => ({ source: '', values: s.values }))).value;
    const x = get(value, a) as number;
    const y = get(value, b) as number;
    if (ok(x, y)) return;
    // The most specific scope that sets either field is the one to fix.
    const at = [...chain].reverse().find((s) => get(s.values, b) !== undefined || get(s.values, a) !== undefined);
    if (at === undefined) return;
    const field = get(at.values, b) !== undefined ? b : a;
    const path = [...at.path, ...field];
    const key = formatPath(path);
    if (reported.has(key)) return;
    reported.add(key);
    out.push({ path, message: message(x, y) });
  };
  for (const chain of chains) {
    report(chain, ['retry', 'backoff', 'baseMs'], ['retry', 'backoff', 'maxMs'], (x, y) => `backoff maxMs ${y} is below baseMs ${x}`, (x, y) => y >= x);
    report(chain, ['outlierDetection', 'baseEjectionMs'], ['outlierDetection', 'maxEjectionMs'], (x, y) => `maxEjectionMs ${y} is below baseEjectionMs ${x}`, (x, y) => y >= x);
    report(chain, ['circuitBreaker', 'openMs'], ['circuitBreaker', 'maxOpenMs'], (x, y) => `maxOpenMs ${y} is below openMs ${x}`, (x, y) => y >= x);
    report(chain, ['circuitBreaker', 'windowCalls'], ['circuitBreaker', 'minimumCalls'], (x, y) => `minimumCalls ${y} exceeds windowCalls ${x}`, (x, y) => y <= x);
    report(
      chain,
      ['timeoutMs'],
      ['retry', 'perTryTimeoutMs'],
      (x, y) => `perTryTimeoutMs ${y} is not below the route timeout ${x}: no retry could ever start`,
      (x, y) => x === 0 || y === 0 || y < x,
    );
  }
  return out;
}

function get(obj: Obj, path: readonly string[]): unknown {
  let cur: unknown = obj;
  for (const k of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Obj)[k];
  }
  return cur;
}
