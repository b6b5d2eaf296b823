// SPDX-License-Identifier: Apache-2.0
// `meshlet explain`: the effective outbound chain for one call (backend + gRPC method): the layers the app composes,
// the route it matches, then timeout, retry, retry budget, thresholds, failure-rate breaker, outlier detection and
// balancing, each value with where it came from. Pure: takes the loaded configs and the chain, returns text lines.

import type { OriginOf } from '../config/origin.js';
import type { BootstrapConfig } from '../config/schema.js';
import { CompiledPolicy, type Source } from './match.js';
import { CompiledRateLimits, type CompiledRateLimit } from '../ratelimit/compile.js';
import type { Policy } from './schema.js';

/** One layer of the outbound chain as the app would compose it (app/explain.ts builds these from proxy/outbound.ts). */
export interface ExplainLayer {
  readonly name: string;
  /** In the chain (true), switched off (false), or unknown because no bootstrap was given (undefined). */
  readonly on: boolean | undefined;
  /** For an optional layer: the bootstrap setting that switches it, its value and where that came from. */
  readonly setting?: { readonly path: string; readonly value: string; readonly origin: string };
}

export interface ExplainInput {
  readonly policy: Policy;
  /** The policy file's name, for the header; undefined when no policy file is configured. */
  readonly policyFile: string | undefined;
  /** Who named the policy file (`--policy`, `policy.file (sidecar.yaml:9)`); shown next to it. */
  readonly policyNamedBy?: string;
  /** The bootstrap (env overrides applied), its file name and the origin of each value; undefined when only a policy file was given. */
  readonly bootstrap: { readonly config: BootstrapConfig; readonly file: string; readonly originOf: OriginOf } | undefined;
  /** Every layer of the outbound chain, outermost first, optional ones included (switched off or not). */
  readonly layers: readonly ExplainLayer[];
  /** The terminal handler below the last layer. */
  readonly terminal: string;
  /** The backend name (the :authority host the app calls). */
  readonly backend: string;
  /** `pkg.Service/Method`. */
  readonly method: string;
}

/** Splits `backend/pkg.Service/Method`; undefined when it is not of that form. */
export function parseCallName(name: string): { backend: string; method: string } | undefined {
  const m = /^([^/\s]+)\/([A-Za-z_][A-Za-z0-9_.]*\/[A-Za-z_][A-Za-z0-9_]*)$/.exec(name);
  return m === null ? undefined : { backend: m[1] as string, method: m[2] as string };
}

export function explainCall(input: ExplainInput): string[] {
  const compiled = new CompiledPolicy(input.policy);
  const path = `/${input.method}`;
  const route = compiled.route(input.backend, path);
  const backend = compiled.backend(input.backend);
  const r = route.policy;
  const b = backend.policy;
  const out: string[] = [];
  const header = (k: string, v: string) => out.push(`${k.padEnd(10)} ${v}`);
  header('call', `${input.backend} ${path}`);
  header(
    'policy',
    input.policyFile === undefined
      ? `none (built-in defaults)${input.bootstrap === undefined ? '' : `: ${input.bootstrap.file} sets no policy.file`}`
      : `${input.policyFile}${input.policyNamedBy === undefined ? '' : ` (named by ${input.policyNamedBy})`}`,
  );
  const m = route.route;
  header(
    'route',
    m === undefined
      ? 'no route matches: backend and default settings only'
      : `${m.label} (backend ${m.backend ?? '*'}, method ${m.method ?? '*'})`,
  );
  const limits = new CompiledRateLimits(input.policy.rateLimits);
  const outboundLimits = limits.matching('outbound', input.backend, path);
  const inboundLimits = limits.matching('inbound', undefined, path);
  const modeOf: Record<string, string> = {
    'rate-limit': outboundLimits.length === 0 ? 'no limit' : outboundLimits.map((l) => `${l.name} ${l.mode}`).join(', '),
    retry: r.retry.mode,
    'circuit-breaker': [b.limits.mode, b.circuitBreaker.mode].every((x) => x === 'off') ? 'off' : `limits ${b.limits.mode}, breaker ${b.circuitBreaker.mode}`,
    outlier: b.outlierDetection.mode,
    // unaryTimeoutMs only applies to calls without a deadline, so not under a route timeout.
    timeout:
      [
        r.timeoutMs > 0 ? `${r.timeoutMs} ms` : r.unaryTimeoutMs > 0 ? `unary ${r.unaryTimeoutMs} ms` : undefined,
        r.idleTimeoutMs > 0 ? `idle ${r.idleTimeoutMs} ms` : undefined,
      ]
        .filter((x) => x !== undefined)
        .join(', ') || 'none',
  };
  const chain = input.layers
    .filter((l) => l.on !== false)
    .map((l) => `${l.name}${l.on === undefined ? '?' : ''}${modeOf[l.name] === undefined ? '' : ` (${modeOf[l.name]})`}`);
  header('chain', [...chain, input.terminal].join(' → '));

  const table = (title: string, rows: readonly (readonly [string, string, string])[], notes: readonly string[] = []) => {
    out.push('', title);
    const w0 = Math.max(...rows.map((x) => x[0].length));
    const w1 = Math.max(...rows.map((x) => x[1].length));
    for (const [k, v, s] of rows) out.push(`  ${k.padEnd(w0)}  ${v.padEnd(w1)}  ${s}`.trimEnd());
    for (const n of notes) out.push(`  note: ${n}`);
  };
  const section = (title: string, obj: object, sources: ReadonlyMap<string, Source>, prefix: string, notes: string[] = []) => {
    const rows: [string, string, string][] = [];
    const walk = (o: object, p: string) => {
      for (const [k, v] of Object.entries(o)) {
        if (k === 'retryOnMask') continue;
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) walk(v, `${p}${k}.`);
        else rows.push([`${p}${k}`, Array.isArray(v) ? `[${v.join(', ')}]` : String(v), sources.get(`${prefix}${p}${k}`) ?? '?']);
      }
    };
    walk(obj, '');
    table(title, rows, notes);
  };

  const optional = input.layers.filter((l) => l.setting !== undefined);
  if (optional.length > 0) {
    table(
      'optional layers',
      optional.map((l) => {
        const set = l.setting as NonNullable<ExplainLayer['setting']>;
        return [l.name, l.on === undefined ? '?' : l.on ? 'on' : 'off', `${set.path} ${set.value}, ${set.origin}`] as const;
      }),
      input.bootstrap === undefined ? ['? = set in the bootstrap: give it (--config sidecar.yaml) to see them'] : [],
    );
  }

  section('timeout', { timeoutMs: r.timeoutMs, unaryTimeoutMs: r.unaryTimeoutMs, idleTimeoutMs: r.idleTimeoutMs }, route.sources, '', [
    r.timeoutMs > 0
      ? `the deadline is the earlier of ${r.timeoutMs} ms after arrival and the client's grpc-timeout`
      : "no route timeout: only the client's grpc-timeout bounds the call",
    r.timeoutMs > 0
      ? 'unaryTimeoutMs does not apply: the route timeout gives every call a deadline'
      : r.unaryTimeoutMs > 0
        ? `without grpc-timeout: DEADLINE_EXCEEDED (ERR_UNARY_TIMEOUT) if no response headers within ${r.unaryTimeoutMs} ms of ` +
          'arrival, unless the client is still sending then (a stream); never sent upstream as grpc-timeout'
        : 'without grpc-timeout the call has no limit but idleTimeoutMs',
    r.idleTimeoutMs > 0
      ? `any call with no DATA either way for ${r.idleTimeoutMs} ms (checked every 250 ms) ends with DEADLINE_EXCEEDED (ERR_STREAM_IDLE_TIMEOUT)`
      : 'no idle timeout: a silent stream is held until it ends',
  ]);
  const retryNotes: string[] = [];
  if (r.retry.mode === 'off') retryNotes.push('no retries at all, not even of attempts that never reached the app');
  else {
    retryNotes.push('attempts that never reached the app (refused stream, connect failure) are always retried');
    retryNotes.push('only while no response header went downstream and the request fits the 64 KiB replay buffer');
    if (r.retry.mode === 'shadow') retryNotes.push('shadow: retries are counted and logged, never made');
    else {
      retryNotes.push('each re-sent attempt carries grpc-previous-rpc-attempts: 1, 2, ... (gRFC A6)');
      retryNotes.push(
        "an upstream's grpc-retry-pushback-ms >= 0 replaces the backoff (deadline, maxRetries and budget still " +
          'apply); negative or malformed: no retry (gRFC A6)',
      );
    }
  }
  section('retry', r.retry, route.sources, 'retry.', retryNotes);
  const limitRow = (l: CompiledRateLimit): [string, string, string] => [
    l.name,
    `${l.rate} burst ${l.burst}, ${l.scope}${l.scope === 'global' ? ` (failureMode ${l.failureMode})` : ''}, ${l.mode}`,
    `by ${l.byText.length === 0 ? 'nothing (one bucket)' : l.byText.join(', ')}${l.callerHeader === undefined ? '' : ` (callerHeader ${l.callerHeader})`}`,
  ];
  const limitNotes: string[] = [];
  if (outboundLimits.length === 0) limitNotes.push('no outbound limit matches this call');
  if (inboundLimits.length > 0) {
    limitNotes.push(`inbound limits of this policy matching ${path} (applied where this policy serves the method): ${inboundLimits.map((l) => l.name).join(', ')}`);
  }
  table('rateLimits (outbound, every one must admit the call)', outboundLimits.length === 0 ? [['-', '', '']] : outboundLimits.map(limitRow), limitNotes);
  section(`retryBudget (backend ${input.backend})`, b.retryBudget, backend.sources, 'retryBudget.');
  section(`limits (backend ${input.backend})`, b.limits, backend.sources, 'limits.');
  section(`circuitBreaker (backend ${input.backend})`, b.circuitBreaker, backend.sources, 'circuitBreaker.');
  section(`outlierDetection (endpoints of ${input.backend})`, b.outlierDetection, backend.sources, 'outlierDetection.');

  const boot = input.bootstrap;
  if (boot === undefined) {
    table('balancing', [['policy', '?', 'give the bootstrap (--config sidecar.yaml) to see balancing and endpoints']]);
    return out;
  }
  // Every bootstrap value with its origin: the file's line, an env variable, or the schema's default.
  const from = (path: readonly string[]) => {
    const origin = boot.originOf(path);
    return origin.startsWith(`${boot.file}:`) ? `${origin} ${path.join('.')}` : origin;
  };
  const up = boot.config.upstreams[input.backend];
  const consul = boot.config.consul === undefined ? undefined : `discovered in Consul (consul.address: ${from(['consul', 'address'])})`;
  if (up === undefined) {
    table('balancing', [
      ['policy', 'least_request', `built-in default (${input.backend} is not in ${boot.file} upstreams)`],
      ['endpoints', consul ?? 'none: not in upstreams and no consul section (ERR_UNKNOWN_BACKEND)', ''],
    ]);
    return out;
  }
  const at = ['upstreams', input.backend];
  const bal = up.balancing;
  const rows: [string, string, string][] = [['policy', bal.policy, from([...at, 'balancing', 'policy'])]];
  if (bal.policy === 'ring_hash') {
    rows.push(['hashHeader', bal.hashHeader ?? '', from([...at, 'balancing', 'hashHeader'])]);
    rows.push(['ringSize', String(bal.ringSize), from([...at, 'balancing', 'ringSize'])]);
  }
  if (up.endpoints === undefined) rows.push(['endpoints', consul ?? 'none: no static endpoints and no consul section', '']);
  else {
    const list = up.endpoints.map((e) => (typeof e === 'string' ? e : `${e.address} (weight ${e.weight})`)).join(', ');
    rows.push(['endpoints', list, from([...at, 'endpoints'])]);
  }
  table('balancing', rows);
  return out;
}
