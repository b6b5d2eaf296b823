// SPDX-License-Identifier: Apache-2.0
// The outbound chain (local app → mesh). The order of layers lives here and nowhere else.

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
import { createOutlierController } from './layers/outlier.js';
import { retryLayer } from './layers/retry.js';
import { timeoutLayer } from './layers/timeout.js';
import type { AttemptMetricsTable, CallMetricsTable } from '../telemetry/metrics.js';
import type { Tracing } from '../telemetry/tracing.js';
import { endpointMetricsLayer } from './layers/endpoint-metrics.js';
import { metricsLayer } from './layers/metrics.js';
import { attemptTracingLayer, tracingLayer } from './layers/tracing.js';

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
}

/** The outbound chain and what must be stopped with it (the outlier detector's ejection timers). */
export interface OutboundChain {
  readonly handler: Handler;
  /** Stops background work of the chain; call at shutdown, after the listener drained. */
  close(): void;
}

export function outboundLayers(deps: OutboundDeps): Layer[] {
  return build(deps).layers;
}

export function outboundChain(deps: OutboundDeps): OutboundChain {
  const { layers, close } = build(deps);
  return { handler: compose(layers, forwardHandler({ pool: deps.pool })), close };
}

function build(deps: OutboundDeps): { layers: Layer[]; close: () => void } {
  const states = deps.states ?? new BackendStates(new PolicyStore(EMPTY_POLICY));
  const events = deps.resilienceEvents;
  const outlier = createOutlierController({ states, backends: deps.backends, log: deps.log.child({ component: 'outlier' }), events });
  const layers = [
    // rescue is outermost: every failure below becomes a Trailers-Only status.
    rescueLayer({ log: deps.log }),
    // access-log sees the final status, including meshlet-made errors, and the endpoint of the last attempt.
    ...(deps.accessLog ? [accessLogLayer({ log: deps.log.child({ component: 'access' }) })] : []),
    // tracing: one INTERNAL span per call (the client spans are per attempt, further down); above metrics.
    ...(deps.tracing !== undefined ? [tracingLayer({ tracing: deps.tracing })] : []),
    // metrics above retry counts calls (endpoint-metrics, per attempt, counts attempts).
    ...(deps.metrics !== undefined ? [metricsLayer({ table: deps.metrics.calls })] : []),
    // deadline first, so discovery waits and connects count against the client's budget.
    deadlineLayer(),
    // route names the backend from :authority; balance picks an endpoint per request.
    routeLayer(),
    // timeout: the route timeout, from arrival and over all attempts; it only tightens the client's deadline.
    timeoutLayer({ store: states.policy }),
    // retry owns every re-send (balance picks once per attempt), so retries, safe or not, share
    // one limit, one budget and one concurrent-retry threshold. Above balance, so a retry picks another endpoint.
    retryLayer({ states, events }),
    // circuit-breaker (per backend): each attempt, retries included, is admitted against the failure-rate breaker
    // and the thresholds; above balance, so an attempt waiting for a slot has not picked an endpoint yet.
    circuitBreakerLayer({ states, events }),
    balanceLayer({ backends: deps.backends }),
    // outlier (per endpoint): right below balance, so the pick and the start of a probe are one synchronous step;
    // an ejected endpoint is marked not ready for the picker.
    outlier.layer,
    // Per attempt, right above forward: endpoint-metrics counts each attempt by result; the CLIENT span
    // of each attempt (retries are separate spans) carries the IDs injected into that attempt's request.
    ...(deps.metrics !== undefined ? [endpointMetricsLayer({ table: deps.metrics.attempts })] : []),
    ...(deps.tracing !== undefined ? [attemptTracingLayer({ tracing: deps.tracing })] : []),
  ];
  return { layers, close: outlier.close };
}
