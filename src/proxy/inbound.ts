// SPDX-License-Identifier: Apache-2.0
// The inbound chain (peer sidecars → local app). The order of layers lives here and nowhere else.

import type { SessionPool } from '../h2/session-pool.js';
import { authzLayer, type AuthzLayerDeps } from './layers/authz.js';
import { forwardHandler } from './forward.js';
import { compose, type Handler, type Layer } from './layer.js';
import { accessLogLayer } from './layers/access-log.js';
import { deadlineLayer } from './layers/deadline.js';
import { localAppLayer } from './layers/local-app.js';
import { rescueLayer } from './layers/rescue.js';
import type { Logger } from '../telemetry/logger.js';
import type { HealthService } from '../health/service.js';
import type { CallMetricsTable } from '../telemetry/metrics.js';
import type { Tracing } from '../telemetry/tracing.js';
import { healthLayer } from './layers/health.js';
import { metricsLayer } from './layers/metrics.js';
import { tracingLayer } from './layers/tracing.js';
import { rateLimitLayer, type RateLimitLayerDeps } from './layers/rate-limit.js';
import { timeoutLayer } from './layers/timeout.js';
import { EMPTY_POLICY } from '../policy/schema.js';
import { PolicyStore } from '../policy/store.js';

export interface InboundDeps {
  readonly service: string;
  readonly appAddress: string;
  readonly pool: SessionPool;
  readonly log: Logger;
  readonly accessLog: boolean;
  // Each is optional: absent means its layer is not in the chain (no per-call cost).
  /** Per-call metrics of the inbound direction. */
  readonly metrics?: CallMetricsTable;
  /** Tracing, when `tracing.mode` is on. */
  readonly tracing?: Tracing;
  /** The sidecar's grpc.health.v1 service, answered on this listener. */
  readonly health?: HealthService;
  /** The policy store and decision counter of inbound authorization (policy `authz`). */
  readonly authz?: Omit<AuthzLayerDeps, 'log'>;
  /** The policy store, limiter and decision counters of rate limits (policy `rateLimits`, direction inbound). */
  readonly rateLimit?: Omit<RateLimitLayerDeps, 'log'>;
  /** The policy whose `unaryTimeoutMs` and `idleTimeoutMs` (for this service) guard calls to the app; default: built-in defaults. */
  readonly policy?: PolicyStore;
}

export function inboundLayers(deps: InboundDeps): Layer[] {
  return [
    // rescue is outermost: every failure below becomes a Trailers-Only status.
    rescueLayer({ log: deps.log }),
    // access-log sees the final status of the call, including meshlet-made errors (it rethrows them to rescue).
    ...(deps.accessLog ? [accessLogLayer({ log: deps.log.child({ component: 'access' }) })] : []),
    // tracing below access-log (which logs the trace IDs it sets) and above metrics; one SERVER span per call.
    ...(deps.tracing !== undefined ? [tracingLayer({ tracing: deps.tracing })] : []),
    // metrics counts every call once, meshlet-made errors included (it sees the rejections rescue turns into replies).
    ...(deps.metrics !== undefined ? [metricsLayer({ table: deps.metrics })] : []),
    // deadline starts before anything that can wait (connecting to the app), so waiting counts against the budget.
    deadlineLayer(),
    // health answers grpc.health.v1 itself (app health + sidecar readiness), so it never reaches the app.
    ...(deps.health !== undefined ? [healthLayer({ health: deps.health })] : []),
    // authz below health: probes (kubelet, Consul) carry no workload identity, so under a deny-by-default policy they
    // would fail and take the instance out of service; their answer reveals only readiness. So health is answered
    // before authz and never subject to it. Below deadline, so the decision
    // is made within the call's budget; above local-app, so a denied call never reaches the app.
    ...(deps.authz !== undefined ? [authzLayer({ ...deps.authz, log: deps.log.child({ component: 'authz' }) })] : []),
    // rate-limit below authz, so a denied caller spends no token (a flood of denied calls cannot starve allowed
    // ones), and below health, so probes are never limited; above local-app, so a rejected call never reaches the app.
    ...(deps.rateLimit !== undefined ? [rateLimitLayer({ ...deps.rateLimit, log: deps.log.child({ component: 'ratelimit' }) })] : []),
    // timeout right above local-app: only calls that go to the app get the guards of the policy for this service
    // (unaryTimeoutMs, idleTimeoutMs; the route timeout timeoutMs is the caller's, applied outbound). Below health,
    // so the sidecar's own Health/Watch streams are never cut as idle.
    timeoutLayer({ store: deps.policy ?? new PolicyStore(EMPTY_POLICY), backend: deps.service, routeTimeout: false }),
    localAppLayer({ service: deps.service, appAddress: deps.appAddress }),
  ];
}

export function inboundHandler(deps: InboundDeps): Handler {
  return compose(inboundLayers(deps), forwardHandler({ pool: deps.pool }));
}
