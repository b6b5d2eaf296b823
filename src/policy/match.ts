// SPDX-License-Identifier: Apache-2.0
// Policy matching: which route applies to a call (backend + gRPC method), and the effective settings for it,
// layered built-in → defaults → backends.<name> → route, with where each value came from. Pure; compiled once
// per policy version and cached per (backend, path) for the request path.

import {
  POLICY_DEFAULTS,
  RETRY_CODES,
  type Mode,
  type Policy,
  type RetryCode,
  type RouteInput,
} from './schema.js';

/** The effective retry settings of a route. */
export interface RetryPolicy {
  readonly mode: Mode;
  readonly maxRetries: number;
  readonly retryOn: readonly RetryCode[];
  /** Bit `1 << status` set for each status in `retryOn`. */
  readonly retryOnMask: number;
  readonly perTryTimeoutMs: number;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
}

/** The effective settings for calls to one backend method. */
export interface RoutePolicy {
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
}

/** The effective per-backend protections. */
export interface BackendPolicy {
  readonly retryBudget: { readonly mode: Mode; readonly retryPercent: number; readonly minRetriesPerSecond: number; readonly ttlMs: number };
  readonly limits: {
    readonly mode: Mode;
    readonly maxConcurrentRequests: number;
    readonly maxPendingRequests: number;
    readonly maxConcurrentRetries: number;
  };
  readonly circuitBreaker: {
    readonly mode: Mode;
    readonly failureRatePercent: number;
    readonly windowCalls: number;
    readonly minimumCalls: number;
    readonly openMs: number;
    readonly maxOpenMs: number;
  };
  readonly outlierDetection: {
    readonly mode: Mode;
    readonly consecutiveFailures: number;
    readonly baseEjectionMs: number;
    readonly maxEjectionMs: number;
    readonly jitterPercent: number;
    readonly maxEjectedPercent: number;
  };
}

/** Where a value came from: `built-in default`, `defaults`, `backends.<name>` or `routes[i]` (plus its name). */
export type Source = string;

/** The route a call matched, as written. */
export interface MatchedRoute {
  readonly index: number;
  readonly label: string;
  readonly backend: string | undefined;
  readonly method: string | undefined;
}

export interface ResolvedRoute {
  readonly policy: RoutePolicy;
  /** The matched route; undefined when only defaults apply. */
  readonly route: MatchedRoute | undefined;
  /** Source of every leaf, by dotted path (`retry.backoff.baseMs`). */
  readonly sources: ReadonlyMap<string, Source>;
}

export interface ResolvedBackend {
  readonly policy: BackendPolicy;
  readonly sources: ReadonlyMap<string, Source>;
}

const BUILT_IN: Source = 'built-in default';
const ROUTE_KEYS = ['timeoutMs', 'retry'] as const;
const BACKEND_KEYS = ['retryBudget', 'limits', 'circuitBreaker', 'outlierDetection'] as const;

/** Caches stay bounded whatever paths clients send: beyond these, results are computed per call, not cached. */
const MAX_CACHED_BACKENDS = 1000;
const MAX_CACHED_PATHS = 2000;

/** A parsed `match.method`. */
export interface MethodPattern {
  readonly kind: 'exact' | 'service' | 'any';
  /** For exact: `/pkg.Service/Method`; for service: `/pkg.Service/`; else ''. */
  readonly prefix: string;
}

export function parseMethodPattern(method: string | undefined): MethodPattern {
  if (method === undefined || method === '*') return { kind: 'any', prefix: '' };
  if (method.endsWith('/*')) return { kind: 'service', prefix: `/${method.slice(0, -1)}` };
  return { kind: 'exact', prefix: `/${method}` };
}

/** Matches `path` (`/pkg.Service/Method`, as on the wire). */
export function methodMatches(p: MethodPattern, path: string): boolean {
  switch (p.kind) {
    case 'any':
      return true;
    case 'service':
      return path.startsWith(p.prefix);
    case 'exact':
      return path === p.prefix;
  }
}

/** Higher is more specific: method kind first (exact > service > any), then a named backend over any. */
function specificity(route: Pick<RouteInput, 'match'>): number {
  const kind = parseMethodPattern(route.match.method).kind;
  return (kind === 'exact' ? 4 : kind === 'service' ? 2 : 0) + (route.match.backend === undefined ? 0 : 1);
}

export function routeLabel(route: RouteInput, index: number): string {
  return route.name === undefined ? `routes[${index}]` : `routes[${index}] "${route.name}"`;
}

export interface CompiledRoute {
  readonly index: number;
  readonly input: RouteInput;
  readonly backend: string | undefined;
  readonly method: MethodPattern;
  readonly matched: MatchedRoute;
}

/**
 * One policy version, compiled. `route()` and `backend()` are what the request path calls: after the first call
 * for a (backend, path) they are two Map lookups and allocate nothing.
 */
export class CompiledPolicy {
  readonly policy: Policy;
  /** Routes by decreasing specificity (stable: file order among equals). */
  private readonly routes: readonly CompiledRoute[];
  private readonly routeCache = new Map<string, Map<string, ResolvedRoute>>();
  private readonly backendCache = new Map<string, ResolvedBackend>();

  constructor(policy: Policy) {
    this.policy = policy;
    const routes = (policy.routes ?? []).map(
      (input, index): CompiledRoute => ({
        index,
        input,
        backend: input.match.backend,
        method: parseMethodPattern(input.match.method),
        matched: { index, label: routeLabel(input, index), backend: input.match.backend, method: input.match.method },
      }),
    );
    this.routes = routes
      .map((r) => ({ r, s: specificity(r.input) }))
      .sort((a, b) => b.s - a.s || a.r.index - b.r.index)
      .map((x) => x.r);
  }

  /** The effective route settings for a call to `backend` with `:path` `path`. */
  route(backend: string, path: string): ResolvedRoute {
    let byPath = this.routeCache.get(backend);
    const hit = byPath?.get(path);
    if (hit !== undefined) return hit;
    const resolved = this.resolveRoute(backend, path);
    if (byPath === undefined && this.routeCache.size < MAX_CACHED_BACKENDS) {
      byPath = new Map();
      this.routeCache.set(backend, byPath);
    }
    if (byPath !== undefined && byPath.size < MAX_CACHED_PATHS) byPath.set(path, resolved);
    return resolved;
  }

  /** The effective per-backend protections of `backend`. */
  backend(backend: string): ResolvedBackend {
    const hit = this.backendCache.get(backend);
    if (hit !== undefined) return hit;
    const resolved = this.resolveBackend(backend);
    if (this.backendCache.size < MAX_CACHED_BACKENDS) this.backendCache.set(backend, resolved);
    return resolved;
  }

  /** The route that applies to (backend, path), if any. */
  match(backend: string, path: string): CompiledRoute | undefined {
    for (const r of this.routes) {
      if (r.backend !== undefined && r.backend !== backend) continue;
      if (methodMatches(r.method, path)) return r;
    }
    return undefined;
  }

  private resolveRoute(backend: string, path: string): ResolvedRoute {
    const matched = this.match(backend, path);
    const layers: Layer[] = this.baseLayers(backend, ROUTE_KEYS);
    if (matched !== undefined) layers.push({ source: matched.matched.label, values: pick(matched.input, ROUTE_KEYS) });
    const { value, sources } = merge(pick(POLICY_DEFAULTS, ROUTE_KEYS), layers);
    const retry = value['retry'] as Omit<RetryPolicy, 'retryOnMask'>;
    let mask = 0;
    for (const code of retry.retryOn) mask |= 1 << RETRY_CODES[code];
    const policy: RoutePolicy = deepFreeze({ timeoutMs: value['timeoutMs'] as number, retry: { ...retry, retryOnMask: mask } });
    return Object.freeze({ policy, route: matched?.matched, sources });
  }

  private resolveBackend(backend: string): ResolvedBackend {
    const { value, sources } = merge(pick(POLICY_DEFAULTS, BACKEND_KEYS), this.baseLayers(backend, BACKEND_KEYS));
    return Object.freeze({ policy: deepFreeze(value as unknown as BackendPolicy), sources });
  }

  private baseLayers(backend: string, keys: readonly string[]): Layer[] {
    const layers: Layer[] = [];
    if (this.policy.defaults !== undefined) layers.push({ source: 'defaults', values: pick(this.policy.defaults, keys) });
    const own = this.policy.backends?.[backend];
    if (own !== undefined) layers.push({ source: `backends.${backend}`, values: pick(own, keys) });
    return layers;
  }
}

interface Layer {
  readonly source: Source;
  readonly values: Record<string, unknown>;
}

function pick(obj: object, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = (obj as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Field-by-field overlay: objects merge key by key, anything else (numbers, strings, lists) replaces.
 * Returns the merged value and the source of each leaf.
 */
export function merge(base: Record<string, unknown>, layers: readonly Layer[]): { value: Record<string, unknown>; sources: Map<string, Source> } {
  const value = structuredClone(base);
  const sources = new Map<string, Source>();
  const mark = (obj: Record<string, unknown>, prefix: string, source: Source): void => {
    for (const [k, v] of Object.entries(obj)) {
      if (isPlainObject(v)) mark(v, `${prefix}${k}.`, source);
      else sources.set(`${prefix}${k}`, source);
    }
  };
  mark(value, '', BUILT_IN);
  const apply = (target: Record<string, unknown>, over: Record<string, unknown>, prefix: string, source: Source): void => {
    for (const [k, v] of Object.entries(over)) {
      if (v === undefined) continue;
      if (isPlainObject(v) && isPlainObject(target[k])) apply(target[k] as Record<string, unknown>, v, `${prefix}${k}.`, source);
      else {
        target[k] = structuredClone(v);
        if (isPlainObject(v)) mark(v, `${prefix}${k}.`, source);
        else sources.set(`${prefix}${k}`, source);
      }
    }
  };
  for (const layer of layers) apply(value, layer.values, '', layer.source);
  return { value, sources };
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const c of Object.values(v)) deepFreeze(c);
  }
  return v;
}
