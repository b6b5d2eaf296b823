// SPDX-License-Identifier: Apache-2.0
// Composition root, outbound area: the pool to upstream endpoints, the backends (discovery + balancing), the
// outbound listener with its chain (src/proxy/outbound.ts) and the optional active health checks of endpoints.

import type { AddressInfo } from 'node:net';
import { Backends, type BackendBalancing } from '../balance/backends.js';
import type { Endpoint } from '../discovery/resolver.js';
import { systemPickerEnv } from '../balance/random.js';
import { getPolicy } from '../balance/policies.js';
import type { BalancingConfig, BootstrapConfig } from '../config/schema.js';
import { checkGrpcHealth } from '../health/grpc-check.js';
import { createUpstreamChecker, type UpstreamChecker } from '../health/upstream-checker.js';
import type { Connector, SessionPool } from '../h2/session-pool.js';
import { outboundChain } from '../proxy/outbound.js';
import type { RateLimitLayerDeps } from '../proxy/layers/rate-limit.js';
import { ProxyListener } from '../proxy/server.js';
import type { Logger } from '../telemetry/logger.js';
import { countConnectionErrors, countStreamRefusals, countConnections } from './mesh-metrics.js';
import type { AppDiscovery } from './discovery.js';
import { createSessionPool, listenerHttp2Options } from './pool.js';
import type { AppResilience } from './resilience.js';
import { chainFeatures, type AppTelemetry } from './telemetry.js';

export interface OutboundDeps {
  readonly log: Logger;
  readonly telemetry: AppTelemetry;
  /** The resolver and which names it knows. */
  readonly discovery: Pick<AppDiscovery, 'resolver' | 'isKnown'>;
  /** The per-backend state (and its policy store) and decision sinks the chain's timeout, retry and breaker layers use. */
  readonly resilience: Pick<AppResilience, 'states' | 'events'>;
  /** Called after every discovery update of a backend (readiness may have changed: refresh health answers). */
  readonly onEndpointsChanged: () => void;
  /** The rate limiter and its counters (policy `rateLimits`, outbound ones). */
  readonly rateLimit?: Omit<RateLimitLayerDeps, 'log'>;
  /** mTLS origination (src/app/mtls.ts): the pool's connector and where endpoint sets are reported; absent = h2c. */
  readonly mtls?: {
    readonly connector: Connector;
    readonly updateEndpoints: (backend: string, upserted: readonly Endpoint[], removed: readonly string[]) => void;
  };
}

export interface AppOutbound {
  readonly listener: ProxyListener;
  readonly pool: SessionPool;
  readonly backends: Backends;
  /** The names of the outbound chain's layers, outermost first (what `meshlet explain` prints). */
  readonly layers: readonly string[];
  /** Present only when `health.upstreams.enabled`. */
  readonly upstreamChecker: UpstreamChecker | undefined;
  /**
   * Start hook: listens, then watches every declared upstream, so the first call does not wait for discovery.
   * @returns the bound address.
   */
  start(): Promise<AddressInfo>;
  /** Start hook, once every listener is up: starts the active upstream health checks (when enabled). */
  startChecks(): void;
  /** Stop hook: stops the upstream health checks. */
  stopChecks(): void;
  /** Stop hook, after every background check stopped: closes the upstream sessions, then the backends' watches. */
  close(): void;
}

/** The `outbound` section of the bootstrap config. */
export type OutboundConfig = NonNullable<BootstrapConfig['outbound']>;

/** Wires the outbound side described by `outbound` (the section of `config`). Starts nothing. */
export function createOutbound(config: BootstrapConfig, outbound: OutboundConfig, deps: OutboundDeps): AppOutbound {
  const { log, telemetry, discovery, resilience } = deps;
  const { metrics, callMetrics } = telemetry;
  const pool = createSessionPool('outbound', config.connection, config.http2, log, metrics, deps.mtls?.connector);
  let upstreamChecker: UpstreamChecker | undefined;
  const backends = new Backends({
    resolver: discovery.resolver,
    isKnown: (name) => discovery.isKnown(name),
    idleTimeoutMs: config.consul?.idleWatchTimeoutMs,
    balancingFor: (name) => balancingFor(config, name),
    env: systemPickerEnv,
    log: log.child({ component: 'discovery' }),
    onEndpointRemoved: (address) => pool.retire(address),
    // New or changed endpoints are health-checked at once when active checks are on.
    onUpdate: (b) => {
      // Before any connection to a new endpoint: its expected SPIFFE IDs (mTLS) come from its backend. Only
      // what changed, so a change of k endpoints among n costs O(k) (issue 13).
      if (deps.mtls !== undefined) {
        const { upserted, removed } = b.lastChanges;
        if (upserted.length + removed.length > 0) deps.mtls.updateEndpoints(b.name, upserted.map((e) => e.endpoint), removed);
      }
      void upstreamChecker?.checkBackend(b);
      deps.onEndpointsChanged(); // readiness waits for the first endpoints of declared upstreams
    },
  });
  const chain = outboundChain({
    backends,
    pool,
    log,
    accessLog: chainFeatures(config).accessLog,
    states: resilience.states,
    resilienceEvents: resilience.events,
    metrics: callMetrics === undefined ? undefined : { calls: callMetrics.calls.outbound, attempts: callMetrics.attempts },
    tracing: telemetry.tracing,
    ...(deps.rateLimit !== undefined ? { rateLimit: deps.rateLimit } : {}),
  });
  const listener = new ProxyListener({
    direction: 'outbound',
    listen: outbound.listen,
    ...listenerHttp2Options(config.http2),
    onConnection: countConnections(metrics, 'outbound'),
    onConnectionError: countConnectionErrors(metrics, 'outbound', log),
    onStreamRefused: countStreamRefusals(metrics, 'outbound', log),
    handler: chain.handler,
  });
  // Optional active gRPC health checks of upstream endpoints, feeding the pickers.
  const up = telemetry.obs.health.upstreams;
  if (up.enabled) {
    upstreamChecker = createUpstreamChecker({
      backends,
      check: (address, timeoutMs) => checkGrpcHealth(pool, address, up.service, timeoutMs),
      intervalMs: up.intervalMs,
      timeoutMs: up.timeoutMs,
      unhealthyThreshold: up.unhealthyThreshold,
      healthyThreshold: up.healthyThreshold,
      log: log.child({ component: 'health' }),
      onCheck: (upstream, result) => metrics.health.upstreamChecks.inc({ upstream, result }),
      onTransition: (upstream, to) => metrics.health.upstreamTransitions.inc({ upstream, to }),
    });
  }
  const checker = upstreamChecker;
  return {
    listener,
    pool,
    backends,
    layers: chain.layers,
    upstreamChecker: checker,
    async start() {
      const address = await listener.start();
      for (const name of Object.keys(config.upstreams)) backends.get(name);
      return address;
    },
    startChecks: () => checker?.start(),
    stopChecks: () => checker?.stop(),
    close() {
      chain.close(); // outlier ejection timers
      pool.destroy();
      backends.close();
    },
  };
}

function balancingFor(config: BootstrapConfig, name: string): BackendBalancing {
  const b: BalancingConfig = config.upstreams[name]?.balancing ?? { policy: 'least_request', ringSize: 1024 };
  return { policy: getPolicy(b.policy) as BackendBalancing['policy'], options: b, hashHeader: b.hashHeader };
}
