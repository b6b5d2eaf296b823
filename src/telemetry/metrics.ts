// SPDX-License-Identifier: Apache-2.0
// Every meshlet metric, in one prom-client registry served at /metrics on the admin port. Per-call metrics
// (go-grpc-prometheus label names plus `direction` and `upstream`) live in plain numeric cells, one `CallSeries`
// per (direction, upstream, service, method), found with two map lookups and turned into Prometheus families only
// at scrape time: a call costs a few increments, not prom-client's label hashing. Mesh state (endpoints, breakers,
// retries, reloads, Consul, connections) uses ordinary prom-client metrics or gauges computed at scrape time.
// A new feature adds its own with one line: `metrics.counter({ name, help, labelNames })`.

import { Counter, Gauge, Histogram, type Metric, Registry } from 'prom-client';
import type { Direction, CallInfo } from '../grpc/call.js';

/** Every metric name starts with this. */
export const PREFIX = 'meshlet_';

/**
 * Buckets of the handling-time histograms, in seconds: from 100 µs (a proxy hop on loopback) to 30 s (a long
 * deadline), about three per decade.
 */
export const HANDLING_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]);

/** go-grpc-prometheus `grpc_type` values, plus `unknown` when meshlet cannot tell (see {@link MethodTypes}). */
export type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream' | 'unknown';

/** The label value every method or upstream beyond the cardinality bounds (or with a malformed path) collapses to. */
export const OTHER = 'other';

/** gRPC status code names, indexed by code: the `grpc_code` label values (go-grpc-prometheus spelling). */
const CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
] as const;

/** The `grpc_code` label of a status code (go-grpc-prometheus names, e.g. `Unavailable`); out of range is Unknown. */
export function codeName(status: number): string {
  return CODE_NAMES[status] ?? 'Unknown';
}

/**
 * Which gRPC type a method has. meshlet never decodes protobuf, so it cannot see this on the wire (a client stream
 * of one message looks like a unary call); it comes from configuration: `metrics.methodTypes` entries keyed
 * `package.Service/Method` or `package.Service/*`, and the methods of `metrics.protoFiles`. Anything else is `unknown`.
 * The standard health and reflection services are built in.
 */
export class MethodTypes {
  private readonly exact = new Map<string, GrpcType>();
  private readonly byService = new Map<string, GrpcType>();

  constructor(entries: Readonly<Record<string, GrpcType>> = {}) {
    this.set('grpc.health.v1.Health/Check', 'unary');
    this.set('grpc.health.v1.Health/Watch', 'server_stream');
    this.set('grpc.reflection.v1.ServerReflection/*', 'bidi_stream');
    this.set('grpc.reflection.v1alpha.ServerReflection/*', 'bidi_stream');
    for (const [k, v] of Object.entries(entries)) this.set(k, v);
  }

  /** Adds `service/method` or `service/*` (a leading '/' is ignored). */
  set(key: string, type: GrpcType): void {
    const k = key.startsWith('/') ? key.slice(1) : key;
    if (k.endsWith('/*')) this.byService.set(k.slice(0, -2), type);
    else this.exact.set(k, type);
  }

  typeOf(service: string, method: string): GrpcType {
    return this.exact.get(`${service}/${method}`) ?? this.byService.get(service) ?? 'unknown';
  }
}

const VALID_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

/**
 * Bounded `grpc_service`/`grpc_method` label pairs by :path, for the counters of layers (authz, rate limits): at
 * most `maxMethods` distinct paths get their own pair; invalid names and every path past the cap read `other`.
 */
export function methodLabeler(maxMethods = 500): (call: { readonly path: string; readonly service: string; readonly method: string }) => readonly [string, string] {
  const labelsByPath = new Map<string, readonly [string, string]>();
  return (call) => {
    const known = labelsByPath.get(call.path);
    if (known !== undefined) return known;
    if (labelsByPath.size >= maxMethods || !VALID_NAME.test(call.service) || !VALID_NAME.test(call.method)) return [OTHER, OTHER];
    const pair = [call.service, call.method] as const;
    labelsByPath.set(call.path, pair);
    return pair;
  };
}

/**
 * Counts of one (direction, upstream, grpc_service, grpc_method) combination. Updated on the request path with
 * plain arithmetic; read at scrape time.
 */
export class CallSeries {
  started = 0;
  /** Handled calls by status code (index 0-16). */
  readonly handled = new Float64Array(17);
  /** Non-cumulative bucket counts; the last slot is (+Inf). */
  readonly buckets = new Float64Array(HANDLING_BUCKETS_SECONDS.length + 1);
  sumSeconds = 0;
  msgReceived = 0;
  msgSent = 0;
  requestBytes = 0;
  responseBytes = 0;
  /**
   * Directions that carry exactly one message (the request of unary and server-streaming calls, the response of
   * unary and client-streaming ones): counted from the byte totals at the end instead of parsing the stream.
   */
  readonly singleRequest: boolean;
  readonly singleResponse: boolean;
  /** Whether request / response DATA is parsed for message counts (streaming and unknown types). */
  readonly parseReceived: boolean;
  readonly parseSent: boolean;

  constructor(
    readonly direction: Direction,
    readonly upstream: string,
    readonly service: string,
    readonly method: string,
    readonly type: GrpcType,
    parseUnknown: boolean,
  ) {
    this.singleRequest = type === 'unary' || type === 'server_stream';
    this.singleResponse = type === 'unary' || type === 'client_stream';
    this.parseReceived = type === 'client_stream' || type === 'bidi_stream' || (type === 'unknown' && parseUnknown);
    this.parseSent = type === 'server_stream' || type === 'bidi_stream' || (type === 'unknown' && parseUnknown);
  }

  /** Records the end of a call: status, handling time since `call.startMs`, bytes, and unary message counts. */
  end(call: CallInfo, status: number): void {
    this.handled[status >= 0 && status <= 16 ? status : 2]!++;
    const seconds = (performance.now() - call.startMs) / 1000;
    this.sumSeconds += seconds;
    this.buckets[bucketIndex(seconds)]!++;
    const req = call.body.bytes;
    const res = call.responseBytes;
    this.requestBytes += req;
    this.responseBytes += res;
    // A single-message direction carried its one 5-byte-prefixed message when it got that far.
    if (this.singleRequest && req >= 5) this.msgReceived++;
    if (this.singleResponse && res >= 5) this.msgSent++;
  }

  get count(): number {
    let n = 0;
    for (const v of this.buckets) n += v;
    return n;
  }
}

/** Index into a histogram's non-cumulative buckets (binary search; the last index is +Inf). */
export function bucketIndex(seconds: number): number {
  const b = HANDLING_BUCKETS_SECONDS;
  let lo = 0;
  let hi = b.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (seconds <= (b[mid] as number)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The series of one upstream label within a table. */
class Scope {
  readonly byPath = new Map<string, CallSeries>();
  readonly all: CallSeries[] = [];
  other: CallSeries | undefined;
  constructor(readonly upstream: string) {}
}

/** Options of a {@link CallMetricsTable}. */
export interface CallTableOptions {
  /** Distinct (service, method) pairs labelled per table before the rest collapse to `other`; default 500, 1-10000. */
  readonly maxMethods?: number;
  /** Distinct upstream labels per table before the rest collapse to `other`; default 100, 1-10000. */
  readonly maxUpstreams?: number;
  readonly methodTypes?: MethodTypes;
  /**
   * Parse message counts for methods of unknown type (they may be streams). Default false: the two stream
   * listeners it needs cost about 10 % of a unary call's proxy CPU (docs/performance.md). Without it, methods of
   * unknown type have no message series at all (rather than misleading zeros).
   */
  readonly countUnknownMessages?: boolean;
}

/**
 * The per-call series of one listener (one direction). Labels stay bounded: at most `maxMethods` distinct
 * service/method pairs and `maxUpstreams` upstreams; the first ones seen keep their own series for the life of the
 * process (a stable set: no series disappears and comes back, which would look like a counter reset), later ones and
 * malformed paths count under `other`. So a caller sending random method names moves one `other` series, not the
 * size of /metrics.
 */
export class CallMetricsTable {
  readonly direction: Direction;
  private readonly maxMethods: number;
  private readonly maxUpstreams: number;
  private readonly types: MethodTypes;
  private readonly parseUnknown: boolean;
  /** Authority (outbound) → scope; bounded, the label set is what is bounded by maxUpstreams. */
  private readonly byAuthority = new Map<string, Scope>();
  private readonly byUpstream = new Map<string, Scope>();
  private readonly methods = new Set<string>();
  private readonly fixed: Scope | undefined;
  private readonly upstreamOf: (authority: string) => string;

  /**
   * @param upstreamOf outbound: the upstream label of an `:authority` (the backend name). Ignored when `fixedUpstream`.
   * @param fixedUpstream inbound: every call's upstream label (the local service).
   */
  constructor(direction: Direction, options: CallTableOptions, upstreamOf: (authority: string) => string, fixedUpstream?: string) {
    this.direction = direction;
    this.maxMethods = options.maxMethods ?? 500;
    this.maxUpstreams = options.maxUpstreams ?? 100;
    this.types = options.methodTypes ?? new MethodTypes();
    this.parseUnknown = options.countUnknownMessages ?? false;
    this.upstreamOf = upstreamOf;
    if (fixedUpstream !== undefined) this.fixed = this.scopeFor(fixedUpstream);
  }

  /** The series of `call` (by its `:authority` and `:path`), created on first use. Two map lookups when known. */
  series(call: CallInfo): CallSeries {
    let scope = this.fixed;
    if (scope === undefined) {
      const authority = call.authority;
      scope = this.byAuthority.get(authority);
      if (scope === undefined) {
        scope = this.scopeFor(this.upstreamOf(authority));
        if (this.byAuthority.size < this.maxUpstreams * 4) this.byAuthority.set(authority, scope);
      }
    }
    return scope.byPath.get(call.path) ?? this.admit(scope, call);
  }

  /** Every series, for the scrape. */
  *all(): Iterable<CallSeries> {
    for (const scope of this.byUpstream.values()) yield* scope.all;
  }

  private scopeFor(label: string): Scope {
    let scope = this.byUpstream.get(label);
    if (scope !== undefined) return scope;
    const bounded = VALID_NAME.test(label) && this.byUpstream.size < this.maxUpstreams ? label : OTHER;
    scope = this.byUpstream.get(bounded);
    if (scope === undefined) {
      scope = new Scope(bounded);
      this.byUpstream.set(bounded, scope);
    }
    return scope;
  }

  private admit(scope: Scope, call: CallInfo): CallSeries {
    const service = call.service;
    const method = call.method;
    const key = `${service}/${method}`;
    const known = this.methods.has(key);
    if (!known && (this.methods.size >= this.maxMethods || !VALID_NAME.test(service) || !VALID_NAME.test(method))) {
      // Not cached by path: the path map must stay bounded too.
      return (scope.other ??= this.push(scope, new CallSeries(this.direction, scope.upstream, OTHER, OTHER, 'unknown', this.parseUnknown)));
    }
    if (!known) this.methods.add(key);
    const series = this.push(
      scope,
      new CallSeries(this.direction, scope.upstream, service, method, this.types.typeOf(service, method), this.parseUnknown),
    );
    scope.byPath.set(call.path, series);
    return series;
  }

  private push(scope: Scope, s: CallSeries): CallSeries {
    scope.all.push(s);
    return s;
  }
}

/** Counts of outbound attempts to one upstream (endpoint-metrics). */
export class AttemptSeries {
  readonly byCode = new Float64Array(17);
  readonly buckets = new Float64Array(HANDLING_BUCKETS_SECONDS.length + 1);
  sumSeconds = 0;
  constructor(readonly upstream: string) {}

  /** Records one attempt that started at `startMs` (performance.now()) and ended with `status`. */
  end(status: number, startMs: number): void {
    this.byCode[status >= 0 && status <= 16 ? status : 2]!++;
    const seconds = (performance.now() - startMs) / 1000;
    this.sumSeconds += seconds;
    this.buckets[bucketIndex(seconds)]!++;
  }
}

/** Per-upstream attempt series, bounded like the call table. */
export class AttemptMetricsTable {
  private readonly byUpstream = new Map<string, AttemptSeries>();
  private other: AttemptSeries | undefined;
  constructor(private readonly maxUpstreams = 100) {}

  series(upstream: string): AttemptSeries {
    const s = this.byUpstream.get(upstream);
    if (s !== undefined) return s;
    if (this.byUpstream.size >= this.maxUpstreams || !VALID_NAME.test(upstream)) return (this.other ??= new AttemptSeries(OTHER));
    const created = new AttemptSeries(upstream);
    this.byUpstream.set(upstream, created);
    return created;
  }

  *all(): Iterable<AttemptSeries> {
    yield* this.byUpstream.values();
    if (this.other !== undefined) yield this.other;
  }
}

type Labels = Record<string, string | number>;
interface Value {
  value: number;
  labels: Labels;
  metricName?: string;
}

/**
 * A metric family whose values are computed at scrape time from the cells above. Registered in prom-client's
 * registry as a duck-typed metric (prom-client reads `name`, `help`, `type`, `get()`), so it is formatted by the
 * same code as every other metric.
 */
class CollectedFamily {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly collect: () => Value[],
  ) {}

  get(): Promise<{ name: string; help: string; type: string; values: Value[]; aggregator: string }> {
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values: this.collect(), aggregator: this.aggregator });
  }

  reset(): void {}
}

function histogramValues(name: string, labels: Labels, buckets: Float64Array, sum: number): Value[] {
  const out: Value[] = [];
  let cumulative = 0;
  for (let i = 0; i < HANDLING_BUCKETS_SECONDS.length; i++) {
    cumulative += buckets[i] as number;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: HANDLING_BUCKETS_SECONDS[i] as number }, value: cumulative });
  }
  cumulative += buckets[HANDLING_BUCKETS_SECONDS.length] as number;
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  out.push({ metricName: `${name}_sum`, labels, value: sum });
  out.push({ metricName: `${name}_count`, labels, value: cumulative });
  return out;
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions extends CallTableOptions {
  /** The local service: the `upstream` label of inbound calls. */
  readonly serviceName: string;
  /** Outbound: the upstream label of an `:authority`. */
  readonly upstreamOf: (authority: string) => string;
}

/** Handles of every meshlet metric; see docs/observability.md for names, labels and meaning. */
export interface Metrics {
  readonly registry: Registry;
  /** Per-call series tables (metrics and endpoint-metrics layers). */
  readonly calls: { readonly inbound: CallMetricsTable; readonly outbound: CallMetricsTable };
  readonly attempts: AttemptMetricsTable;
  /** Downstream connections accepted by the listeners. */
  readonly connections: {
    readonly open: Gauge<'direction'>;
    readonly accepted: Counter<'direction'>;
    readonly errors: Counter<'direction' | 'reason'>;
    readonly streamsRefused: Counter<'direction' | 'reason'>;
  };
  /** Upstream HTTP/2 sessions: connect failures and closes (session counts are collected from the pools). */
  readonly sessions: { readonly connectErrors: Counter<'direction'>; readonly closed: Counter<'direction' | 'reason'> };
  /** Resilience decisions. */
  readonly resilience: {
    readonly ejections: Counter<'upstream'>;
    readonly ejectionsSkipped: Counter<'upstream'>;
    readonly probations: Counter<'upstream'>;
    readonly restores: Counter<'upstream'>;
    readonly breakerState: Gauge<'upstream' | 'state'>;
    readonly breakerTransitions: Counter<'upstream' | 'state'>;
    readonly breakerRejections: Counter<'upstream'>;
    readonly overflows: Counter<'upstream' | 'limit'>;
    readonly retries: Counter<'upstream' | 'reason'>;
    readonly retriesGivenUp: Counter<'upstream' | 'reason'>;
    readonly retryPushbacks: Counter<'upstream'>;
    readonly budgetExhausted: Counter<'upstream'>;
    readonly shadow: Counter<'feature' | 'upstream' | 'detail'>;
    /** Sets the breaker state gauge: 1 for `state`, 0 for the other states of `upstream`. */
    setBreakerState(upstream: string, state: 'closed' | 'open' | 'half-open'): void;
  };
  /** Policy reloads: `result` is `accepted` or `rejected`. */
  readonly config: { readonly reloads: Counter<'result'> };
  /**
   * Inbound authorization decisions (policy `authz`): `decision` allow|deny, `rule` the rule's name or `rules[i]`
   * or the default that decided (from config, never the caller), `mode` shadow|enforce; method labels bounded like
   * the call metrics.
   */
  readonly authz: { readonly decisions: Counter<'grpc_service' | 'grpc_method' | 'decision' | 'rule' | 'mode'> };
  /**
   * Rate limits (policy `rateLimits`): `decisions` per limit and method, `decision` admitted|rejected|shadow_rejected;
   * `fallback` the decisions of global limits made without Redis (`result` local|unavailable); `redisErrors` failed
   * lease fetches by `reason` (timeout, connection, error); `redisUp` 1 while global limits lease from Redis.
   */
  readonly ratelimit: {
    readonly decisions: Counter<'limit' | 'direction' | 'grpc_service' | 'grpc_method' | 'decision'>;
    readonly fallback: Counter<'limit' | 'result'>;
    readonly redisErrors: Counter<'reason'>;
    readonly redisUp: Gauge;
  };
  readonly health: {
    /** Checks of the local app: result `serving`, `not_serving`, `error`. */
    readonly appChecks: Counter<'result'>;
    /** Active checks of upstream endpoints: result as above. */
    readonly upstreamChecks: Counter<'upstream' | 'result'>;
    /** Endpoints that became unhealthy / healthy by active checks. */
    readonly upstreamTransitions: Counter<'upstream' | 'to'>;
  };
  readonly tracing: { readonly spansExported: Counter; readonly spansFailed: Counter };
  /** Consul registration attempts of the local service (watch status is collected from the resolver). */
  readonly consul: { readonly registrations: Counter<'result'> };
  /**
   * gRPC-Web on the inbound listener (`inbound.grpcWeb`): `calls` by `protocol` (http/1.1, h2), `encoding` (binary,
   * text) and `grpc_code` (every gRPC-Web call, also those meshlet refused before the chain); `rejected` counts
   * HTTP requests that were not gRPC-Web, by `reason` (not_grpc_web 415, h2c_upgrade 426, method 405, preflight_origin).
   */
  readonly grpcWeb: { readonly calls: Counter<'protocol' | 'encoding' | 'grpc_code'>; readonly rejected: Counter<'reason'> };
  /** Registers a counter in the registry (names get no automatic prefix: pass `meshlet_...`). Same name → same metric. */
  counter<L extends string = never>(config: { name: string; help: string; labelNames?: readonly L[] }): Counter<L>;
  gauge<L extends string = never>(config: { name: string; help: string; labelNames?: readonly L[]; collect?: (this: Gauge<L>) => void }): Gauge<L>;
  histogram<L extends string = never>(config: { name: string; help: string; labelNames?: readonly L[]; buckets?: number[] }): Histogram<L>;
  /**
   * Registers a family whose values are computed at every scrape from live state (endpoints per upstream, Consul
   * watch status): `collect` returns `{ labels, value }` pairs.
   */
  collected(name: string, help: string, type: 'counter' | 'gauge', collect: () => Array<{ labels: Labels; value: number }>): void;
  /** The exposition text and its content type. */
  scrape(): Promise<{ contentType: string; body: string }>;
}

/** Creates the registry and every metric. One per sidecar (tests run several in one process). */
export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  const tables = {
    inbound: new CallMetricsTable('inbound', options, () => options.serviceName, options.serviceName),
    outbound: new CallMetricsTable('outbound', options, options.upstreamOf),
  };
  const attempts = new AttemptMetricsTable(options.maxUpstreams);

  const counter = <L extends string = never>(config: { name: string; help: string; labelNames?: readonly L[] }): Counter<L> => {
    const existing = registry.getSingleMetric(config.name);
    if (existing !== undefined) return existing as Counter<L>;
    return new Counter<L>({ ...config, labelNames: config.labelNames ?? [], registers: [registry] });
  };
  const gauge = <L extends string = never>(config: {
    name: string;
    help: string;
    labelNames?: readonly L[];
    collect?: (this: Gauge<L>) => void;
  }): Gauge<L> => {
    const existing = registry.getSingleMetric(config.name);
    if (existing !== undefined) return existing as Gauge<L>;
    return new Gauge<L>({ ...config, labelNames: config.labelNames ?? [], registers: [registry] });
  };
  const histogram = <L extends string = never>(config: {
    name: string;
    help: string;
    labelNames?: readonly L[];
    buckets?: number[];
  }): Histogram<L> => {
    const existing = registry.getSingleMetric(config.name);
    if (existing !== undefined) return existing as Histogram<L>;
    return new Histogram<L>({ buckets: [...HANDLING_BUCKETS_SECONDS], ...config, labelNames: config.labelNames ?? [], registers: [registry] });
  };
  const family = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', collect: () => Value[]): void => {
    registry.registerMetric(new CollectedFamily(name, help, type, collect) as unknown as Metric);
  };

  // Per-call families, computed from the tables at scrape time.
  const callLabels = (s: CallSeries): Labels => ({
    direction: s.direction,
    upstream: s.upstream,
    grpc_type: s.type,
    grpc_service: s.service,
    grpc_method: s.method,
  });
  const eachCall = (f: (s: CallSeries, labels: Labels, out: Value[]) => void) => (): Value[] => {
    const out: Value[] = [];
    for (const table of [tables.inbound, tables.outbound]) for (const s of table.all()) f(s, callLabels(s), out);
    return out;
  };
  family(
    `${PREFIX}grpc_started_total`,
    'Calls started, by direction, upstream and method.',
    'counter',
    eachCall((s, labels, out) => void out.push({ labels, value: s.started })),
  );
  family(
    `${PREFIX}grpc_handled_total`,
    'Calls completed, by final gRPC status code (grpc_code) as the downstream client saw it.',
    'counter',
    eachCall((s, labels, out) => {
      for (let code = 0; code < 17; code++) {
        const v = s.handled[code] as number;
        if (v > 0) out.push({ labels: { ...labels, grpc_code: codeName(code) }, value: v });
      }
    }),
  );
  family(
    `${PREFIX}grpc_handling_seconds`,
    'Call duration from the request headers to the end of the call, in seconds.',
    'histogram',
    eachCall((s, labels, out) => void out.push(...histogramValues(`${PREFIX}grpc_handling_seconds`, labels, s.buckets, s.sumSeconds))),
  );
  // Only series whose messages are counted in that direction (not unknown types unless countUnknownMessages).
  family(
    `${PREFIX}grpc_msg_received_total`,
    'gRPC messages received from the downstream client (request messages).',
    'counter',
    eachCall((s, labels, out) => {
      if (s.singleRequest || s.parseReceived) out.push({ labels, value: s.msgReceived });
    }),
  );
  family(
    `${PREFIX}grpc_msg_sent_total`,
    'gRPC messages sent to the downstream client (response messages).',
    'counter',
    eachCall((s, labels, out) => {
      if (s.singleResponse || s.parseSent) out.push({ labels, value: s.msgSent });
    }),
  );
  family(
    `${PREFIX}grpc_request_bytes_total`,
    'Request DATA bytes (gRPC framing included) of completed calls.',
    'counter',
    eachCall((s, labels, out) => void out.push({ labels, value: s.requestBytes })),
  );
  family(
    `${PREFIX}grpc_response_bytes_total`,
    'Response DATA bytes (gRPC framing included) of completed calls.',
    'counter',
    eachCall((s, labels, out) => void out.push({ labels, value: s.responseBytes })),
  );

  const attemptsHelp = 'Outbound attempts (first tries, retries and safe re-sends) by upstream and result code.';
  family(`${PREFIX}upstream_attempts_total`, attemptsHelp, 'counter', () => {
    const out: Value[] = [];
    for (const s of attempts.all()) {
      for (let code = 0; code < 17; code++) {
        const v = s.byCode[code] as number;
        if (v > 0) out.push({ labels: { upstream: s.upstream, grpc_code: codeName(code) }, value: v });
      }
    }
    return out;
  });
  family(`${PREFIX}upstream_attempt_seconds`, 'Duration of one outbound attempt, in seconds.', 'histogram', () => {
    const out: Value[] = [];
    for (const s of attempts.all()) {
      out.push(...histogramValues(`${PREFIX}upstream_attempt_seconds`, { upstream: s.upstream }, s.buckets, s.sumSeconds));
    }
    return out;
  });

  const breakerState = gauge({
    name: `${PREFIX}circuit_breaker_state`,
    help: 'Circuit breaker state per upstream: 1 for the current state.',
    labelNames: ['upstream', 'state'] as const,
  });
  const reloads = counter({
    name: `${PREFIX}config_reloads_total`,
    help: 'Policy reloads by result: accepted, or rejected (the last good policy stays).',
    labelNames: ['result'] as const,
  });
  reloads.inc({ result: 'accepted' }, 0);
  reloads.inc({ result: 'rejected' }, 0);

  return {
    registry,
    calls: tables,
    attempts,
    connections: {
      open: gauge({
        name: `${PREFIX}connections_open`,
        help: 'Downstream HTTP/2 connections open on the listeners.',
        labelNames: ['direction'] as const,
      }),
      accepted: counter({ name: `${PREFIX}connections_total`, help: 'Downstream HTTP/2 connections accepted.', labelNames: ['direction'] as const }),
      streamsRefused: counter({
        name: `${PREFIX}streams_refused_total`,
        help: 'New downstream streams refused with REFUSED_STREAM, by reason: max_concurrent_streams (the connection is at http2.maxConcurrentStreams) or memory_budget (http2.memoryBudgetBytes is spent).',
        labelNames: ['direction', 'reason'] as const,
      }),
      errors: counter({
        name: `${PREFIX}connection_errors_total`,
        help: 'Downstream connections that ended badly, by reason (HTTP/2 error we sent, peer_goaway, disconnected, or a refusal before HTTP/2: tls_required, tls_handshake, tls_no_h2, tls_peer_identity, not_h2, handshake_timeout).',
        labelNames: ['direction', 'reason'] as const,
      }),
    },
    sessions: {
      connectErrors: counter({
        name: `${PREFIX}upstream_connect_errors_total`,
        help: 'Failed connects to upstream endpoints (refused, timeout).',
        labelNames: ['direction'] as const,
      }),
      closed: counter({
        name: `${PREFIX}upstream_sessions_closed_total`,
        help: 'Upstream HTTP/2 sessions closed, by reason.',
        labelNames: ['direction', 'reason'] as const,
      }),
    },
    resilience: {
      ejections: counter({
        name: `${PREFIX}outlier_ejections_total`,
        help: 'Endpoints ejected by outlier detection.',
        labelNames: ['upstream'] as const,
      }),
      ejectionsSkipped: counter({
        name: `${PREFIX}outlier_ejections_skipped_total`,
        help: 'Ejections not made because the maximum share of endpoints was already out.',
        labelNames: ['upstream'] as const,
      }),
      probations: counter({
        name: `${PREFIX}outlier_probations_total`,
        help: 'Ejected endpoints whose penalty ended; the next call probes them.',
        labelNames: ['upstream'] as const,
      }),
      restores: counter({
        name: `${PREFIX}outlier_restores_total`,
        help: 'Ejected endpoints restored after their probe succeeded.',
        labelNames: ['upstream'] as const,
      }),
      breakerState,
      breakerTransitions: counter({
        name: `${PREFIX}circuit_breaker_transitions_total`,
        help: 'Failure-rate breaker state changes, by the state entered.',
        labelNames: ['upstream', 'state'] as const,
      }),
      breakerRejections: counter({
        name: `${PREFIX}circuit_breaker_rejections_total`,
        help: 'Attempts failed fast by an open failure-rate breaker.',
        labelNames: ['upstream'] as const,
      }),
      overflows: counter({
        name: `${PREFIX}circuit_breaker_overflows_total`,
        help: 'Calls failed fast by a circuit-breaker limit, by limit.',
        labelNames: ['upstream', 'limit'] as const,
      }),
      retries: counter({ name: `${PREFIX}retries_total`, help: 'Retry attempts made, by reason.', labelNames: ['upstream', 'reason'] as const }),
      retriesGivenUp: counter({
        name: `${PREFIX}retries_given_up_total`,
        help: 'Retryable failures returned without a retry, by reason (max_retries, body, deadline, cancelled, pushback).',
        labelNames: ['upstream', 'reason'] as const,
      }),
      retryPushbacks: counter({
        name: `${PREFIX}retry_pushbacks_total`,
        help: "Retries that waited the upstream's grpc-retry-pushback-ms instead of the backoff (gRFC A6).",
        labelNames: ['upstream'] as const,
      }),
      budgetExhausted: counter({
        name: `${PREFIX}retry_budget_exhausted_total`,
        help: 'Retries not made because the retry budget was spent.',
        labelNames: ['upstream'] as const,
      }),
      shadow: counter({
        name: `${PREFIX}shadow_decisions_total`,
        help: 'Decisions a protective feature in shadow mode would have taken (and did not).',
        labelNames: ['feature', 'upstream', 'detail'] as const,
      }),
      setBreakerState(upstream, state) {
        for (const s of ['closed', 'open', 'half-open'] as const) breakerState.set({ upstream, state: s }, s === state ? 1 : 0);
      },
    },
    config: { reloads },
    authz: {
      decisions: counter({
        name: `${PREFIX}authz_decisions_total`,
        help: 'Inbound authorization decisions, by method, decision (allow, deny), deciding rule and mode (shadow: what would have happened).',
        labelNames: ['grpc_service', 'grpc_method', 'decision', 'rule', 'mode'] as const,
      }),
    },
    ratelimit: {
      decisions: counter({
        name: `${PREFIX}ratelimit_decisions_total`,
        help: 'Rate-limit decisions, by limit, direction, method and decision (admitted, rejected, shadow_rejected).',
        labelNames: ['limit', 'direction', 'grpc_service', 'grpc_method', 'decision'] as const,
      }),
      fallback: counter({
        name: `${PREFIX}ratelimit_redis_fallback_total`,
        help: 'Decisions of global limits made without Redis: result local (the local fallback bucket) or unavailable (failureMode closed).',
        labelNames: ['limit', 'result'] as const,
      }),
      redisErrors: counter({
        name: `${PREFIX}ratelimit_redis_errors_total`,
        help: 'Failed Redis lease fetches of global limits, by reason (timeout, connection, error).',
        labelNames: ['reason'] as const,
      }),
      redisUp: gauge({ name: `${PREFIX}ratelimit_redis_up`, help: '1 while global rate limits lease from Redis, 0 while they run on their fallback.' }),
    },
    health: {
      appChecks: counter({
        name: `${PREFIX}health_app_checks_total`,
        help: 'Health checks of the local app, by result.',
        labelNames: ['result'] as const,
      }),
      upstreamChecks: counter({
        name: `${PREFIX}health_upstream_checks_total`,
        help: 'Active gRPC health checks of upstream endpoints, by result.',
        labelNames: ['upstream', 'result'] as const,
      }),
      upstreamTransitions: counter({
        name: `${PREFIX}health_upstream_transitions_total`,
        help: 'Upstream endpoints marked unhealthy or healthy again by active checks.',
        labelNames: ['upstream', 'to'] as const,
      }),
    },
    tracing: {
      spansExported: counter({ name: `${PREFIX}tracing_spans_exported_total`, help: 'Spans the collector accepted.' }),
      spansFailed: counter({ name: `${PREFIX}tracing_spans_failed_total`, help: 'Spans dropped because the export failed.' }),
    },
    consul: {
      registrations: counter({
        name: `${PREFIX}consul_registrations_total`,
        help: 'Attempts to register the local service with the Consul agent, by result (ok, error).',
        labelNames: ['result'] as const,
      }),
    },
    grpcWeb: {
      calls: counter({
        name: `${PREFIX}grpc_web_calls_total`,
        help: 'gRPC-Web calls on the inbound listener, by HTTP protocol (http/1.1, h2), encoding (binary, text) and gRPC code.',
        labelNames: ['protocol', 'encoding', 'grpc_code'] as const,
      }),
      rejected: counter({
        name: `${PREFIX}grpc_web_rejected_total`,
        help: 'HTTP requests on a gRPC-Web listener that were not gRPC-Web calls, by reason (not_grpc_web, h2c_upgrade, method, preflight_origin).',
        labelNames: ['reason'] as const,
      }),
    },
    counter,
    gauge,
    histogram,
    collected(name, help, type, collect) {
      family(name, help, type, collect);
    },
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

// --- The sidecar injector (`meshlet injector`): its own registry, served on the injector's admin port. ---

/** Metrics of the injector webhook; see docs/kubernetes.md. */
export interface InjectorMetrics {
  readonly registry: Registry;
  /** Admission reviews answered, by result: injected, skipped, unchanged, denied, error. */
  readonly reviews: Counter<'result'>;
  /** Time from the request's first byte to the answer, seconds. */
  readonly reviewSeconds: Histogram;
  /** Reloads of the serving certificate after its files changed, by result: ok, error (the old one is kept). */
  readonly certReloads: Counter<'result'>;
  scrape(): Promise<{ contentType: string; body: string }>;
}

export function createInjectorMetrics(): InjectorMetrics {
  const registry = new Registry();
  return {
    registry,
    reviews: new Counter({ name: `${PREFIX}injector_reviews_total`, help: 'Admission reviews answered, by result (injected, skipped, unchanged, denied, error).', labelNames: ['result'], registers: [registry] }),
    reviewSeconds: new Histogram({ name: `${PREFIX}injector_review_duration_seconds`, help: 'Time to answer an admission review, seconds.', buckets: [...HANDLING_BUCKETS_SECONDS], registers: [registry] }),
    certReloads: new Counter({ name: `${PREFIX}injector_cert_reloads_total`, help: 'Reloads of the serving certificate after a file change, by result (ok, error).', labelNames: ['result'], registers: [registry] }),
    scrape: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
  };
}
