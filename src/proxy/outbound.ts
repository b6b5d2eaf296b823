// SPDX-License-Identifier: Apache-2.0
// The outbound chain (local app → mesh) as one list of named layers (OUTBOUND_LAYERS): the order lives here and
// nowhere else, and `meshlet explain` prints the same list.

import type { Backends } from '../balance/backends.js';
import type { Logger } from '../telemetry/logger.js';
import { forwardHandler } from './forward.js';
import type { SessionPool } from '../h2/session-pool.js';
import { compose, type Handler, type Layer } from './layer.js';
import { accessLogLayer } from './layers/access-log.js';
import { balanceLayer } from './layers/balance.js';
import { deadlineLayer } from './layers/deadline.js';
import { rescueLayer } from './layers/rescue.js';
import { routeLayer } from './layers/route.js';
import { EMPTY_POLICY } from '../policy/schema.js';
import { PolicyStore } from '../policy/store.js';
import { BackendStates } from '../resilience/backend-state.js';
import type { ResilienceEvents } from '../resilience/events.js';
import { circuitBreakerLayer } from './layers/circuit-breaker.js';
import { createOutlierController, type OutlierController } from './layers/outlier.js';
import { retryLayer } from './layers/retry.js';
import { timeoutLayer } from './layers/timeout.js';
import type { AttemptMetricsTable, CallMetricsTable } from '../telemetry/metrics.js';
import type { Tracing } from '../telemetry/tracing.js';
import { endpointMetricsLayer } from './layers/endpoint-metrics.js';
import { metricsLayer } from './layers/metrics.js';
import { attemptTracingLayer, tracingLayer } from './layers/tracing.js';
import { rateLimitLayer, type RateLimitLayerDeps } from './layers/rate-limit.js';

export interface OutboundDeps {
  readonly backends: Backends;
  readonly pool: SessionPool;
  readonly log: Logger;
  readonly accessLog: boolean;
  /** The per-backend resilience state and the policy store it follows; default: built-in defaults only (no policy file). */
  readonly states?: BackendStates;
  /** Decision hooks of the resilience layers (metrics). */
  readonly resilienceEvents?: ResilienceEvents;
  // Each is optional: absent means its layers are not in the chain (no per-call cost).
  /** Per-call and per-attempt metrics of the outbound direction. */
  readonly metrics?: { readonly calls: CallMetricsTable; readonly attempts: AttemptMetricsTable };
  /** Tracing, when `tracing.mode` is on. */
  readonly tracing?: Tracing;
  /** The policy store, limiter and decision counters of rate limits (policy `rateLimits`, direction outbound); absent: the layer passes calls through. */
  readonly rateLimit?: Omit<RateLimitLayerDeps, 'log'>;
}

/**
 * Which optional layers a chain has: the bootstrap's switches. The app derives them from the config
 * (`chainFeatures` in app/telemetry.ts), `meshlet explain` too, so both see the same chain.
 */
export interface ChainFeatures {
  /** `log.accessLog`: the access-log layer. */
  readonly accessLog: boolean;
  /** `metrics.enabled`: the per-call metrics layer and, per attempt, endpoint-metrics. */
  readonly metrics: boolean;
  /** `tracing.mode: on`: the call span layer and, per attempt, the client span layer. */
  readonly tracing: boolean;
}

/** What every layer of one chain shares; built once per chain, never per call. */
interface Shared {
  readonly states: BackendStates;
  readonly events: ResilienceEvents | undefined;
  readonly outlier: OutlierController;
}

/** One entry of the outbound chain: its name (as `meshlet explain` prints it), its switch, its factory. */
export interface OutboundLayerSpec {
  readonly name: string;
  /** The switch that puts the layer in the chain; absent: always in. */
  readonly feature?: keyof ChainFeatures;
  /** Builds the layer; called once per chain, and only when the layer is enabled. */
  readonly make: (deps: OutboundDeps, shared: Shared) => Layer;
}

/**
 * The outbound chain, outermost first: the one list both `outboundChain` and `meshlet explain` read. The order
 * lives here and nowhere else.
 */
export const OUTBOUND_LAYERS: readonly OutboundLayerSpec[] = [
  // rescue is outermost: every failure below becomes a Trailers-Only status.
  { name: 'rescue', make: (d) => rescueLayer({ log: d.log }) },
  // access-log sees the final status, including meshlet-made errors, and the endpoint of the last attempt.
  { name: 'access-log', feature: 'accessLog', make: (d) => accessLogLayer({ log: d.log.child({ component: 'access' }) }) },
  // tracing: one INTERNAL span per call (the client spans are per attempt, further down); above metrics.
  { name: 'tracing', feature: 'tracing', make: (d) => tracingLayer({ tracing: need(d.tracing, 'tracing') }) },
  // metrics above retry counts calls (endpoint-metrics, per attempt, counts attempts).
  { name: 'metrics', feature: 'metrics', make: (d) => metricsLayer({ table: need(d.metrics, 'metrics').calls }) },
  // deadline first, so discovery waits and connects count against the client's budget.
  { name: 'deadline', make: () => deadlineLayer() },
  // route names the backend from :authority; balance picks an endpoint per request.
  { name: 'route', make: () => routeLayer() },
  // rate-limit below route (a limit may name the backend) and above timeout and retry: it counts calls, not
  // attempts, and a rejected call makes none. Policy-driven (hot-reloaded), so always in the chain.
  {
    name: 'rate-limit',
    make: (d) => (d.rateLimit === undefined ? (next) => next : rateLimitLayer({ ...d.rateLimit, log: d.log.child({ component: 'ratelimit' }) })),
  },
  // timeout: the route timeout, from arrival and over all attempts; it only tightens the client's deadline.
  { name: 'timeout', make: (_d, s) => timeoutLayer({ store: s.states.policy }) },
  // retry owns every re-send (balance picks once per attempt), so retries, safe or not, share
  // one limit, one budget and one concurrent-retry threshold. Above balance, so a retry picks another endpoint.
  { name: 'retry', make: (_d, s) => retryLayer({ states: s.states, events: s.events }) },
  // circuit-breaker (per backend): each attempt, retries included, is admitted against the failure-rate breaker
  // and the thresholds; above balance, so an attempt waiting for a slot has not picked an endpoint yet.
  { name: 'circuit-breaker', make: (_d, s) => circuitBreakerLayer({ states: s.states, events: s.events }) },
  { name: 'balance', make: (d) => balanceLayer({ backends: d.backends }) },
  // outlier (per endpoint): right below balance, so the pick and the start of a probe are one synchronous step;
  // an ejected endpoint is marked not ready for the picker.
  { name: 'outlier', make: (_d, s) => s.outlier.layer },
  // Per attempt, right above forward: endpoint-metrics counts each attempt by result; the CLIENT span
  // of each attempt (retries are separate spans) carries the IDs injected into that attempt's request.
  { name: 'endpoint-metrics', feature: 'metrics', make: (d) => endpointMetricsLayer({ table: need(d.metrics, 'metrics').attempts }) },
  { name: 'attempt-tracing', feature: 'tracing', make: (d) => attemptTracingLayer({ tracing: need(d.tracing, 'tracing') }) },
];

/** The name of the chain's terminal handler (forward.ts), below the last layer. */
export const OUTBOUND_TERMINAL = 'forward';

/** The names of the layers an outbound chain with `features` has, outermost first. Pure. */
export function outboundLayerNames(features: ChainFeatures): string[] {
  return OUTBOUND_LAYERS.filter((l) => enabled(l, features)).map((l) => l.name);
}

/** The switches `deps` amount to: a layer is in the chain when its dependency is given. */
export function outboundFeatures(deps: OutboundDeps): ChainFeatures {
  return { accessLog: deps.accessLog, metrics: deps.metrics !== undefined, tracing: deps.tracing !== undefined };
}

/** The outbound chain and what must be stopped with it (the outlier detector's ejection timers). */
export interface OutboundChain {
  readonly handler: Handler;
  /** The names of the composed layers, outermost first (`outboundLayerNames` of the deps' features). */
  readonly layers: readonly string[];
  /** Stops background work of the chain; call at shutdown, after the listener drained. */
  close(): void;
}

/** The chain's layers for `deps`, outermost first, without the terminal (tests compose them over a stub). */
export function outboundLayers(deps: OutboundDeps): Layer[] {
  return build(deps).layers.map((l) => l.layer);
}

/** Builds the outbound chain once; the per-call cost is the composed layers only. */
export function outboundChain(deps: OutboundDeps): OutboundChain {
  const { layers, close } = build(deps);
  return {
    handler: compose(
      layers.map((l) => l.layer),
      forwardHandler({ pool: deps.pool }),
    ),
    layers: layers.map((l) => l.name),
    close,
  };
}

function build(deps: OutboundDeps): { layers: { name: string; layer: Layer }[]; close: () => void } {
  const states = deps.states ?? new BackendStates(new PolicyStore(EMPTY_POLICY));
  const events = deps.resilienceEvents;
  const outlier = createOutlierController({ states, backends: deps.backends, log: deps.log.child({ component: 'outlier' }), events });
  const shared: Shared = { states, events, outlier };
  const features = outboundFeatures(deps);
  const layers = OUTBOUND_LAYERS.filter((l) => enabled(l, features)).map((l) => ({ name: l.name, layer: l.make(deps, shared) }));
  return { layers, close: outlier.close };
}

function enabled(spec: OutboundLayerSpec, features: ChainFeatures): boolean {
  return spec.feature === undefined || features[spec.feature];
}

/** A dependency the layer's switch promised (`outboundFeatures` derives the switch from its presence). */
function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`invariant: the ${what} layer is enabled without its dependency`);
  return value;
}
