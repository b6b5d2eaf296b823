// SPDX-License-Identifier: Apache-2.0
// GET /clusters: what the sidecar knows right now, as JSON: the inbound side (app, health), every upstream backend
// with its discovery status and endpoints (ready, active-health verdict, in-flight attempts, peak-EWMA latency,
// HTTP/2 sessions), and the Consul watches. For humans and debugging scripts; metrics are the stable interface.

import type { Backends } from '../../balance/backends.js';
import { DEFAULT_RTT_MS } from '../../balance/endpoint-load.js';
import type { ConsulBackendStats } from '../../discovery/consul/resolver.js';
import type { EndpointCheckState } from '../../health/upstream-checker.js';
import type { SessionPool } from '../../h2/session-pool.js';
import type { AdminServer } from '../server.js';

/** Where /clusters reads from; every part is optional (a client-only sidecar has no inbound side). */
export interface ClustersSources {
  readonly inbound?: () => Record<string, unknown>;
  readonly backends?: Backends;
  readonly outboundPool?: SessionPool;
  readonly inboundPool?: SessionPool;
  /** Active health-check state of an upstream endpoint. */
  readonly upstreamHealth?: (address: string) => EndpointCheckState | undefined;
  /** Extra per-endpoint state from other features (outlier detection, breakers). */
  readonly endpointDetail?: (backend: string, address: string) => Record<string, unknown> | undefined;
  /** Extra per-backend state from other features (breaker state, limits). */
  readonly backendDetail?: (backend: string) => Record<string, unknown> | undefined;
  readonly consul?: () => ConsulBackendStats[];
  /** performance.now(), for ages. */
  readonly now?: () => number;
}

const round = (n: number): number => Math.round(n * 1000) / 1000;

/** Builds the /clusters document. Pure over its sources. */
function clustersSnapshot(src: ClustersSources): Record<string, unknown> {
  const now = (src.now ?? (() => performance.now()))();
  const sessions = src.outboundPool?.stats() ?? {};
  const upstreams = (src.backends?.list() ?? []).map((b) => ({
    name: b.name,
    policy: b.balancing.policy.name,
    resolved: b.resolved,
    watching: b.watch !== undefined,
    discoveryError: b.lastError?.message ?? null,
    lastResultAgoMs: b.lastResultMs === 0 ? null : Math.round(now - b.lastResultMs),
    ...src.backendDetail?.(b.name),
    endpoints: b.endpoints.map((e) => {
      const address = e.endpoint.address;
      const health = src.upstreamHealth?.(address);
      return {
        address,
        weight: e.endpoint.weight,
        ready: e.ready,
        healthy: e.healthy,
        // An endpoint nothing has called or compared yet holds no load: 0 in flight, the default estimate.
        inflight: e.loadIfUsed?.inflight ?? 0,
        ewmaMs: round(e.loadIfUsed?.ewmaMs ?? DEFAULT_RTT_MS),
        sessions: sessions[address]?.sessions ?? 0,
        activeStreams: sessions[address]?.active ?? 0,
        ...(sessions[address]?.windowBound === true && { windowBound: true }),
        ...(health !== undefined && { healthCheck: health }),
        ...src.endpointDetail?.(b.name, address),
      };
    }),
  }));
  return {
    ...(src.inbound !== undefined && { inbound: { ...src.inbound(), sessions: src.inboundPool?.stats() ?? {} } }),
    upstreams,
    ...(src.consul !== undefined && { consul: src.consul() }),
  };
}

export function addClustersRoute(admin: AdminServer, sources: ClustersSources): void {
  admin.route('GET', '/clusters', () => ({ status: 200, body: clustersSnapshot(sources) }));
}
