// SPDX-License-Identifier: Apache-2.0
// `meshlet explain`: the effective outbound chain for one call (backend + gRPC method): the route it matches,
// then timeout, retry, retry budget, thresholds, failure-rate breaker, outlier detection and balancing, each value
// with where it came from. Pure: takes the loaded configs, returns text lines.

import type { BootstrapConfig } from '../config/schema.js';
import { CompiledPolicy, type Source } from './match.js';
import type { Policy } from './schema.js';

export interface ExplainInput {
  readonly policy: Policy;
  /** The policy file's name, for the header; undefined when no policy file is configured. */
  readonly policyFile: string | undefined;
  /** The bootstrap, for balancing and endpoints; undefined when only a policy file was given. */
  readonly bootstrap: BootstrapConfig | undefined;
  readonly bootstrapFile?: string;
  /** The backend name (the :authority host the app calls). */
  readonly backend: string;
  /** `pkg.Service/Method`. */
  readonly method: string;
}

/** The outbound chain as outbound.ts builds it (outermost first); resilience layers are marked with their mode. */
const CHAIN = ['rescue', 'access-log', 'deadline', 'route', 'timeout', 'retry', 'circuit-breaker', 'balance', 'outlier', 'forward'] as const;

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
  header('policy', input.policyFile ?? 'none (built-in defaults)');
  const m = route.route;
  header(
    'route',
    m === undefined
      ? 'no route matches: backend and default settings only'
      : `${m.label} (backend ${m.backend ?? '*'}, method ${m.method ?? '*'})`,
  );
  const modeOf: Record<string, string> = {
    retry: r.retry.mode,
    'circuit-breaker': [b.limits.mode, b.circuitBreaker.mode].every((x) => x === 'off') ? 'off' : `limits ${b.limits.mode}, breaker ${b.circuitBreaker.mode}`,
    outlier: b.outlierDetection.mode,
    timeout: r.timeoutMs > 0 ? `${r.timeoutMs} ms` : 'none',
  };
  header('chain', CHAIN.map((l) => (modeOf[l] === undefined ? l : `${l} (${modeOf[l]})`)).join(' → '));

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

  section('timeout', { timeoutMs: r.timeoutMs }, route.sources, '', [
    r.timeoutMs > 0
      ? `the deadline is the earlier of ${r.timeoutMs} ms after arrival and the client's grpc-timeout`
      : "no route timeout: only the client's grpc-timeout bounds the call",
  ]);
  const retryNotes: string[] = [];
  if (r.retry.mode === 'off') retryNotes.push('no retries at all, not even of attempts that never reached the app');
  else {
    retryNotes.push('attempts that never reached the app (refused stream, connect failure) are always retried');
    retryNotes.push('only while no response header went downstream and the request fits the 64 KiB replay buffer');
    if (r.retry.mode === 'shadow') retryNotes.push('shadow: retries are counted and logged, never made');
  }
  section('retry', r.retry, route.sources, 'retry.', retryNotes);
  section(`retryBudget (backend ${input.backend})`, b.retryBudget, backend.sources, 'retryBudget.');
  section(`limits (backend ${input.backend})`, b.limits, backend.sources, 'limits.');
  section(`circuitBreaker (backend ${input.backend})`, b.circuitBreaker, backend.sources, 'circuitBreaker.');
  section(`outlierDetection (endpoints of ${input.backend})`, b.outlierDetection, backend.sources, 'outlierDetection.');

  const up = input.bootstrap?.upstreams[input.backend];
  const where = input.bootstrapFile ?? 'bootstrap';
  if (input.bootstrap === undefined) {
    table('balancing', [['policy', '?', 'give the bootstrap (--config sidecar.yaml) to see balancing and endpoints']]);
  } else if (up === undefined) {
    const found = input.bootstrap.consul === undefined ? 'none: not in upstreams and no consul section (ERR_UNKNOWN_BACKEND)' : 'discovered in Consul';
    table('balancing', [
      ['policy', 'least_request', `built-in default (${input.backend} is not in ${where} upstreams)`],
      ['endpoints', found, ''],
    ]);
  } else {
    const bal = up.balancing;
    const from = `${where} upstreams.${input.backend}`;
    const rows: [string, string, string][] = [['policy', bal.policy, `${from}.balancing`]];
    if (bal.policy === 'ring_hash') rows.push(['hashHeader', bal.hashHeader ?? '', `${from}.balancing`], ['ringSize', String(bal.ringSize), `${from}.balancing`]);
    const endpoints =
      up.endpoints === undefined
        ? ['discovered in Consul', '']
        : [up.endpoints.map((e) => (typeof e === 'string' ? e : `${e.address} (weight ${e.weight})`)).join(', '), `${from}.endpoints`];
    rows.push(['endpoints', endpoints[0] as string, endpoints[1] as string]);
    table('balancing', rows);
  }
  return out;
}
