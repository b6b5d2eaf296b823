// SPDX-License-Identifier: Apache-2.0
// Route matching (exact > service prefix > any; named backend > any) and field-by-field layering with sources.
import { describe, expect, it } from 'vitest';
import { CompiledPolicy, methodMatches, parseMethodPattern } from '../../../src/policy/match.js';
import { parsePolicy } from '../../../src/policy/load.js';
import type { Policy } from '../../../src/policy/schema.js';

function compile(yaml: string): CompiledPolicy {
  const r = parsePolicy('p.yaml', yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return new CompiledPolicy(r.config as Policy);
}

const ROUTES = `
routes:
  - name: any
    match: {}
    timeoutMs: 1
  - name: any-on-a
    match: { backend: a }
    timeoutMs: 2
  - name: service
    match: { method: "pkg.S/*" }
    timeoutMs: 3
  - name: service-on-a
    match: { backend: a, method: "pkg.S/*" }
    timeoutMs: 4
  - name: exact
    match: { method: "pkg.S/Get" }
    timeoutMs: 5
  - name: exact-on-a
    match: { backend: a, method: "pkg.S/Get" }
    timeoutMs: 6
`;

describe('method patterns', () => {
  it('match exact methods, whole services and everything', () => {
    expect(methodMatches(parseMethodPattern('pkg.S/Get'), '/pkg.S/Get')).toBe(true);
    expect(methodMatches(parseMethodPattern('pkg.S/Get'), '/pkg.S/GetAll')).toBe(false);
    expect(methodMatches(parseMethodPattern('pkg.S/*'), '/pkg.S/Put')).toBe(true);
    expect(methodMatches(parseMethodPattern('pkg.S/*'), '/pkg.Sx/Put')).toBe(false);
    expect(methodMatches(parseMethodPattern('*'), '/anything/at-all')).toBe(true);
    expect(methodMatches(parseMethodPattern(undefined), '/x.Y/Z')).toBe(true);
  });
});

describe('CompiledPolicy.route', () => {
  const p = compile(ROUTES);
  it.each([
    ['a', '/pkg.S/Get', 'exact-on-a', 6],
    ['b', '/pkg.S/Get', 'exact', 5],
    ['a', '/pkg.S/Put', 'service-on-a', 4],
    ['b', '/pkg.S/Put', 'service', 3],
    ['a', '/other.T/Get', 'any-on-a', 2],
    ['b', '/other.T/Get', 'any', 1],
  ])('picks the most specific route for %s %s: %s', (backend, path, name, timeoutMs) => {
    const r = p.route(backend, path);
    expect(r.route?.label).toBe(`routes[${['any', 'any-on-a', 'service', 'service-on-a', 'exact', 'exact-on-a'].indexOf(name)}] "${name}"`);
    expect(r.policy.timeoutMs).toBe(timeoutMs);
  });

  it('returns the same frozen object for the same call (cached: no work per call after the first)', () => {
    const a = p.route('a', '/pkg.S/Get');
    expect(p.route('a', '/pkg.S/Get')).toBe(a);
    expect(Object.isFrozen(a.policy.retry)).toBe(true);
  });

  it('layers field by field: route > backends.<name> > defaults > built-in, and records where each came from', () => {
    const c = compile(`
defaults:
  timeoutMs: 1000
  retry: { maxRetries: 1, backoff: { baseMs: 10 } }
backends:
  a:
    retry: { retryOn: [unavailable], backoff: { maxMs: 500 } }
routes:
  - name: get
    match: { backend: a, method: "pkg.S/Get" }
    retry: { maxRetries: 3 }
`);
    const r = c.route('a', '/pkg.S/Get');
    expect(r.policy).toMatchObject({
      timeoutMs: 1000,
      retry: { mode: 'enforce', maxRetries: 3, retryOn: ['unavailable'], perTryTimeoutMs: 0, backoff: { baseMs: 10, maxMs: 500 } },
    });
    expect(r.policy.retry.retryOnMask).toBe(1 << 14);
    expect(Object.fromEntries(r.sources)).toEqual({
      timeoutMs: 'defaults',
      unaryTimeoutMs: 'built-in default',
      idleTimeoutMs: 'built-in default',
      'retry.mode': 'built-in default',
      'retry.maxRetries': 'routes[0] "get"',
      'retry.retryOn': 'backends.a',
      'retry.perTryTimeoutMs': 'built-in default',
      'retry.backoff.baseMs': 'defaults',
      'retry.backoff.maxMs': 'backends.a',
    });
    // Another backend sees neither backends.a nor the route.
    expect(c.route('b', '/pkg.S/Get').policy.retry).toMatchObject({ maxRetries: 1, retryOn: [] });
  });

  it('replaces lists rather than merging them', () => {
    const c = compile(`
defaults:
  retry: { retryOn: [unavailable, internal] }
routes:
  - match: { method: "pkg.S/Get" }
    retry: { retryOn: [] }
`);
    expect(c.route('x', '/pkg.S/Get').policy.retry.retryOn).toEqual([]);
    expect(c.route('x', '/pkg.S/Put').policy.retry.retryOn).toEqual(['unavailable', 'internal']);
  });

  it('with no policy at all, every value is the built-in default', () => {
    const c = new CompiledPolicy({});
    const r = c.route('a', '/x.Y/Z');
    expect(r.route).toBeUndefined();
    expect(r.policy).toMatchObject({ timeoutMs: 0, retry: { mode: 'enforce', maxRetries: 2, retryOn: [], backoff: { baseMs: 25, maxMs: 250 } } });
    expect(new Set(r.sources.values())).toEqual(new Set(['built-in default']));
  });
});

describe('CompiledPolicy.backend', () => {
  it('layers the per-backend protections: backends.<name> > defaults > built-in', () => {
    const c = compile(`
defaults:
  limits: { mode: shadow, maxConcurrentRequests: 100 }
backends:
  a:
    limits: { maxConcurrentRequests: 10 }
`);
    const a = c.backend('a');
    expect(a.policy.limits).toEqual({ mode: 'shadow', maxConcurrentRequests: 10, maxPendingRequests: 0, maxConcurrentRetries: 3 });
    expect(a.sources.get('limits.mode')).toBe('defaults');
    expect(a.sources.get('limits.maxConcurrentRequests')).toBe('backends.a');
    expect(c.backend('b').policy.limits.maxConcurrentRequests).toBe(100);
    expect(a.policy.outlierDetection).toEqual({
      mode: 'enforce',
      consecutiveFailures: 7,
      baseEjectionMs: 1000,
      maxEjectionMs: 60_000,
      jitterPercent: 50,
      maxEjectedPercent: 50,
    });
  });
});
