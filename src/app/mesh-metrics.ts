// SPDX-License-Identifier: Apache-2.0
// Mesh-state metrics computed at scrape time from live state (no bookkeeping on any hot path): endpoints per
// upstream and their readiness/health, discovery status, upstream HTTP/2 sessions, Consul watch status and errors,
// calls in flight, and the served health status. Registered in the sidecar's registry by src/app/admin.ts.

import type { Backends } from '../balance/backends.js';
import type { ConsulBackendStats } from '../discovery/consul/resolver.js';
import type { SessionPool } from '../h2/session-pool.js';
import { type Metrics, PREFIX } from '../telemetry/metrics.js';
import type { Logger } from '../telemetry/logger.js';

/** Where the values come from; every part is optional. */
export interface MeshStateSources {
  readonly backends?: Backends;
  readonly pools?: { readonly inbound?: SessionPool; readonly outbound?: SessionPool };
  readonly consul?: () => ConsulBackendStats[];
  /** The Consul registration state of the local service (undefined before the first attempt). */
  readonly registration?: () => string | undefined;
  /** Calls in flight per listener. */
  readonly inflight?: { readonly inbound?: () => number; readonly outbound?: () => number };
  /** The status the sidecar serves on grpc.health.v1 (inbound side). */
  readonly served?: () => 'SERVING' | 'NOT_SERVING' | 'UNKNOWN';
  /** The app's own health as last checked. */
  readonly app?: () => 'SERVING' | 'NOT_SERVING' | 'UNKNOWN';
}

type Sample = { labels: Record<string, string | number>; value: number };

/** Registers the mesh-state families. Call once per registry. */
export function addMeshStateMetrics(metrics: Metrics, src: MeshStateSources): void {
  const { backends, pools, consul } = src;
  if (backends !== undefined) {
    metrics.collected(
      `${PREFIX}upstream_endpoints`,
      'Endpoints per upstream, by state: ready (pickable) or not_ready (ejected, breaker open or failing health checks).',
      'gauge',
      () => {
        const out: Sample[] = [];
        for (const b of backends.list()) {
          let ready = 0;
          for (const e of b.endpoints) if (e.ready) ready++;
          out.push({ labels: { upstream: b.name, state: 'ready' }, value: ready });
          out.push({ labels: { upstream: b.name, state: 'not_ready' }, value: b.endpoints.length - ready });
        }
        return out;
      },
    );
    metrics.collected(
      `${PREFIX}upstream_endpoints_unhealthy`,
      'Endpoints per upstream failing active gRPC health checks (0 when checks are off).',
      'gauge',
      () => backends.list().map((b) => ({ labels: { upstream: b.name }, value: b.endpoints.filter((e) => !e.healthy).length })),
    );
    metrics.collected(
      `${PREFIX}upstream_discovery_ok`,
      '1 when the last discovery result for the upstream was good, 0 while it fails (the last good endpoints stay in use).',
      'gauge',
      () =>
        backends
          .list()
          .filter((b) => b.resolved)
          .map((b) => ({ labels: { upstream: b.name }, value: b.lastError === undefined ? 1 : 0 })),
    );
  }
  if (pools !== undefined) {
    const sessions = (f: (s: { sessions: number; active: number }) => number) => (): Sample[] => {
      const out: Sample[] = [];
      for (const direction of ['inbound', 'outbound'] as const) {
        const pool = pools[direction];
        if (pool === undefined) continue;
        let n = 0;
        for (const s of Object.values(pool.stats())) n += f(s);
        out.push({ labels: { direction }, value: n });
      }
      return out;
    };
    metrics.collected(
      `${PREFIX}upstream_sessions`,
      'Open HTTP/2 sessions to upstream endpoints (inbound: to the local app).',
      'gauge',
      sessions((s) => s.sessions),
    );
    metrics.collected(`${PREFIX}upstream_streams_active`, 'Streams in flight on upstream sessions.', 'gauge', sessions((s) => s.active));
  }
  if (src.inflight !== undefined) {
    const inflight = src.inflight;
    metrics.collected(
      `${PREFIX}calls_in_flight`,
      'Calls in flight on the listeners (what a drain waits for).',
      'gauge',
      () => {
        const out: Sample[] = [];
        if (inflight.inbound !== undefined) out.push({ labels: { direction: 'inbound' }, value: inflight.inbound() });
        if (inflight.outbound !== undefined) out.push({ labels: { direction: 'outbound' }, value: inflight.outbound() });
        return out;
      },
    );
  }
  if (consul !== undefined) {
    const per = (f: (s: ConsulBackendStats) => number | undefined) => (): Sample[] => {
      const out: Sample[] = [];
      for (const s of consul()) {
        const v = f(s);
        if (v !== undefined) out.push({ labels: { upstream: s.service }, value: v });
      }
      return out;
    };
    metrics.collected(
      `${PREFIX}consul_watch_up`,
      '1 while the Consul watch of the upstream answers (no error since the last success), else 0.',
      'gauge',
      per((s) => (s.running && s.consecutiveErrors === 0 && s.lastSuccessAt !== undefined ? 1 : 0)),
    );
    metrics.collected(
      `${PREFIX}consul_watch_requests_total`,
      'Consul blocking queries sent for the upstream (since its watch started).',
      'counter',
      per((s) => s.requests),
    );
    metrics.collected(
      `${PREFIX}consul_watch_errors_total`,
      'Failed Consul queries for the upstream (since its watch started).',
      'counter',
      per((s) => s.errors),
    );
    metrics.collected(
      `${PREFIX}consul_watch_bad_responses_total`,
      'Consul answers ignored as unusable (2xx but truncated, not JSON, missing fields or too large), by reason; ' +
        'the last good endpoints stay in use.',
      'counter',
      () => {
        const out: Sample[] = [];
        for (const s of consul()) {
          for (const [reason, value] of Object.entries(s.badResponses)) out.push({ labels: { upstream: s.service, reason }, value });
        }
        return out;
      },
    );
    metrics.collected(
      `${PREFIX}consul_watch_index_resets_total`,
      'Consul index went backwards (snapshot restore, agent restart) and the watch started over.',
      'counter',
      per((s) => s.indexResets),
    );
    metrics.collected(
      `${PREFIX}consul_watch_last_success_timestamp_seconds`,
      'Unix time of the last successful Consul answer for the upstream.',
      'gauge',
      per((s) => (s.lastSuccessAt === undefined ? undefined : s.lastSuccessAt / 1000)),
    );
  }
  if (src.registration !== undefined) {
    const state = src.registration;
    metrics.collected(
      `${PREFIX}consul_registered`,
      '1 while the local service is registered with the Consul agent, else 0 (pending, failing, deregistered).',
      'gauge',
      () => [{ labels: {}, value: state() === 'registered' ? 1 : 0 }],
    );
  }
  if (src.served !== undefined) {
    const served = src.served;
    metrics.collected(
      `${PREFIX}health_serving`,
      '1 while the sidecar answers SERVING on grpc.health.v1 (app healthy and sidecar ready), else 0.',
      'gauge',
      () => [{ labels: {}, value: served() === 'SERVING' ? 1 : 0 }],
    );
  }
  if (src.app !== undefined) {
    const app = src.app;
    metrics.collected(
      `${PREFIX}health_app_serving`,
      "1 while the local app's last health check passed, else 0; absent until the first check ends (UNKNOWN is not down).",
      'gauge',
      () => {
        const status = app();
        return status === 'UNKNOWN' ? [] : [{ labels: {}, value: status === 'SERVING' ? 1 : 0 }];
      },
    );
  }
}

/** Pool events (src/h2/session-pool.ts) with connect failures and closes also counted. */
export function countPoolEvents<E extends { onConnectError?(address: string, err: Error): void; onClose?(address: string, reason: string): void }>(
  events: E,
  metrics: Metrics,
  direction: 'inbound' | 'outbound',
): E {
  const connectErrors = metrics.sessions.connectErrors.labels({ direction });
  return {
    ...events,
    onConnectError(address: string, err: Error) {
      connectErrors.inc();
      events.onConnectError?.(address, err);
    },
    onClose(address: string, reason: string) {
      metrics.sessions.closed.inc({ direction, reason });
      events.onClose?.(address, reason);
    },
  };
}

/** Why a connection was refused before HTTP/2 (src/tls/accept.ts AcceptFailure), with its log message. */
const TLS_REFUSALS = new Map<string, string>([
  ['tls_required', 'plaintext connection refused: this listener requires mTLS (mtls.inbound.mode strict)'],
  ['tls_handshake', 'TLS handshake failed (bad ClientHello, untrusted, expired or missing client certificate)'],
  ['tls_no_h2', 'TLS peer refused: it did not negotiate ALPN h2 (gRPC needs HTTP/2)'],
  ['tls_peer_identity', 'TLS peer refused: its certificate has no single SPIFFE ID'],
  ['not_h2', 'connection refused: neither TLS nor the HTTP/2 preface'],
  ['handshake_timeout', 'connection closed: no TLS handshake within http2.handshakeTimeoutMs'],
]);

/** At most one warn log per TLS refusal reason per this many ms. */
export const TLS_LOG_INTERVAL_MS = 10_000;

/** A listener's `onConnection` callback that keeps the connection gauges. */
/**
 * Counts downstream connections that ended badly and logs them: a warning when meshlet closed one for a protocol
 * violation or a flood guard (the peer is broken or hostile, and an operator should see it), debug for a peer that
 * just went away with calls in flight.
 */
export function countConnectionErrors(
  metrics: Metrics,
  direction: 'inbound' | 'outbound',
  log: Logger,
): (reason: string, err: Error | undefined, remote: string) => void {
  // Refusals before HTTP/2 (TLS) can come at any rate (scanners, a misconfigured client in a loop): one warn per
  // reason per TLS_LOG_INTERVAL_MS, with how many were suppressed since; the counter sees every one.
  const lastLogged = new Map<string, { atMs: number; suppressed: number }>();
  return (reason, err, remote) => {
    metrics.connections.errors.inc({ direction, reason });
    const fields = { direction, remote, reason, err: err?.message };
    if (TLS_REFUSALS.has(reason)) {
      const now = performance.now();
      const last = lastLogged.get(reason);
      if (last !== undefined && now - last.atMs < TLS_LOG_INTERVAL_MS) {
        last.suppressed++;
        return;
      }
      lastLogged.set(reason, { atMs: now, suppressed: 0 });
      log.warn({ ...fields, suppressed: last?.suppressed ?? 0 }, TLS_REFUSALS.get(reason) as string);
      return;
    }
    if (reason === 'disconnected' || reason === 'peer_goaway') log.debug(fields, 'downstream connection ended with calls in flight');
    else log.warn(fields, 'downstream connection closed: the peer broke the HTTP/2 protocol or a flood limit');
  };
}

/**
 * Counts streams a listener refused (REFUSED_STREAM) by reason, and says in a warn log which peer hit the limit:
 * at most one line per reason per TLS_LOG_INTERVAL_MS, with how many refusals it stands for.
 */
export function countStreamRefusals(metrics: Metrics, direction: 'inbound' | 'outbound', log: Logger): (reason: string, remote: string) => void {
  const lastLogged = new Map<string, { atMs: number; suppressed: number }>();
  return (reason, remote) => {
    metrics.connections.streamsRefused.inc({ direction, reason });
    const now = performance.now();
    const last = lastLogged.get(reason);
    if (last !== undefined && now - last.atMs < TLS_LOG_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    lastLogged.set(reason, { atMs: now, suppressed: 0 });
    const what = reason === 'memory_budget' ? 'the stream memory budget (http2.memoryBudgetBytes) is spent' : 'the connection is at http2.maxConcurrentStreams';
    log.warn({ direction, remote, reason, suppressed: last?.suppressed ?? 0 }, `new stream refused: ${what}`);
  };
}

export function countConnections(metrics: Metrics, direction: 'inbound' | 'outbound'): (open: boolean) => void {
  const open = metrics.connections.open.labels({ direction });
  const accepted = metrics.connections.accepted.labels({ direction });
  open.set(0);
  return (isOpen) => {
    if (isOpen) {
      open.inc();
      accepted.inc();
    } else {
      open.dec();
    }
  };
}
