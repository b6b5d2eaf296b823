// SPDX-License-Identifier: Apache-2.0
// Composition root, admin area: the admin server and its routes (/live /ready /config /metrics /clusters
// /log-level /drain), plus the mesh-state metrics computed at scrape time. Reads every other area; none reads it.

import type { AddressInfo } from 'node:net';
import { addClustersRoute } from '../admin/routes/clusters.js';
import { addDrainRoute } from '../admin/routes/drain.js';
import { addLogLevelRoutes } from '../admin/routes/log-level.js';
import { addMetricsRoute } from '../admin/routes/metrics.js';
import { AdminServer } from '../admin/server.js';
import type { BootstrapConfig } from '../config/schema.js';
import { redactConfig } from '../config/redact.js';
import type { BackendStates } from '../resilience/backend-state.js';
import type { Logger } from '../telemetry/logger.js';
import { addMeshStateMetrics } from './mesh-metrics.js';
import type { AppDiscovery } from './discovery.js';
import type { AppInbound } from './inbound.js';
import type { AppOutbound } from './outbound.js';
import type { Readiness } from './readiness.js';
import type { AppTelemetry } from './telemetry.js';
import { addCertsRoute } from '../admin/routes/certs.js';
import type { CertSource } from '../tls/material.js';

export interface AdminDeps {
  /** The process logger (its level is what /log-level reads and sets). */
  readonly log: Logger;
  readonly telemetry: AppTelemetry;
  /** Complete by now: /ready evaluates `readiness.checks` in order. */
  readonly readiness: Readiness;
  readonly inbound: AppInbound | undefined;
  readonly outbound: AppOutbound | undefined;
  readonly discovery: AppDiscovery;
  /** For the per-backend breaker, limits and outlier state on /clusters. */
  readonly states: BackendStates;
  /** This sidecar's certificates (with mTLS): GET /certs shows the identity, chain and expiry. */
  readonly certSource: CertSource | undefined;
  /** The first half of a shutdown (POST /drain); resolves to the number of calls cut. */
  readonly drainListeners: (timeoutMs: number) => Promise<number>;
}

export interface AppAdmin {
  readonly server: AdminServer;
  /** Start hook (right after the policy, before the listeners): listens and returns the bound address. */
  start(): Promise<AddressInfo>;
  /** Stop hook, last of all. */
  close(): Promise<void>;
}

/** Registers every admin route and the mesh-state metrics. Starts nothing. */
export function createAdmin(config: BootstrapConfig, deps: AdminDeps): AppAdmin {
  const { log, telemetry, inbound, outbound, discovery, states } = deps;
  const { metrics, obs } = telemetry;
  const admin = new AdminServer(config.admin.listen);
  admin.addHealthRoutes(deps.readiness.checks);
  admin.route('GET', '/config', () => ({ status: 200, body: redactConfig(config) }));
  const consulResolver = discovery.consulResolver;
  const consulStats = consulResolver === undefined ? undefined : () => consulResolver.stats();
  const upstreamChecker = outbound?.upstreamChecker;
  addMetricsRoute(admin, metrics);
  addClustersRoute(admin, {
    inbound:
      inbound === undefined
        ? undefined
        : () => ({
            service: config.service.name,
            app: config.inbound?.app,
            health: inbound.health.current(),
            reason: inbound.health.reason() ?? null,
            appHealth: inbound.appHealth.status(),
            appCheck: obs.health.appCheck,
          }),
    backends: outbound?.backends,
    outboundPool: outbound?.pool,
    inboundPool: inbound?.pool,
    upstreamHealth: upstreamChecker === undefined ? undefined : (address) => upstreamChecker.state(address),
    // Breaker, limits and outlier state of the per-backend resilience (only backends that have state).
    backendDetail: (name) => {
      const r = resilienceOf(states, name);
      if (r === undefined) return undefined;
      const l = r.limiter;
      return { breaker: r.breaker.state, limits: { inflight: l.inflight, pending: l.pending, retriesInflight: l.retriesInflight } };
    },
    endpointDetail: (name, address) => {
      const ejected = resilienceOf(states, name)?.outlier.ejected().find((e) => e.address === address);
      return ejected === undefined ? undefined : { outlier: ejected.health, ejections: ejected.ejections };
    },
    consul: consulStats,
  });
  if (deps.certSource !== undefined) addCertsRoute(admin, deps.certSource);
  addLogLevelRoutes(admin, log, obs.allowRemoteMutations);
  addDrainRoute(admin, () => deps.drainListeners(config.shutdown.drainTimeoutMs), obs.allowRemoteMutations);
  addMeshStateMetrics(metrics, {
    backends: outbound?.backends,
    pools: { inbound: inbound?.pool, outbound: outbound?.pool },
    consul: consulStats,
    registration: config.consul?.register === true ? () => discovery.registrar?.state : undefined,
    inflight: {
      inbound: inbound === undefined ? undefined : () => inbound.listener.activeCalls,
      outbound: outbound === undefined ? undefined : () => outbound.listener.activeCalls,
    },
    served: inbound === undefined ? undefined : () => inbound.health.current(),
    app: inbound === undefined ? undefined : () => inbound.appHealth.status(),
  });
  return { server: admin, start: () => admin.start(), close: () => admin.close() };
}

/** The resilience state of a backend for /clusters, without creating it when there is none. */
function resilienceOf(states: BackendStates, name: string) {
  for (const r of states.backends()) if (r.name === name) return r;
  return undefined;
}
