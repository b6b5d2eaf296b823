// SPDX-License-Identifier: Apache-2.0
// Composition root, inbound area: the pool to the local app, the app's health checks, the grpc.health.v1 service
// of the inbound port and the inbound listener with its chain (src/proxy/inbound.ts). Built only with `inbound`.

import type { AddressInfo } from 'node:net';
import type { BootstrapConfig } from '../config/schema.js';
import { type AppHealth, createAppHealth } from '../health/app-health.js';
import { checkGrpcHealth } from '../health/grpc-check.js';
import { createHealthService, type HealthService } from '../health/service.js';
import type { Connector, SessionPool } from '../h2/session-pool.js';
import type { PolicyStore } from '../policy/store.js';
import { healthPortHandler } from '../proxy/health-port.js';
import { inboundHandler } from '../proxy/inbound.js';
import type { RateLimitLayerDeps } from '../proxy/layers/rate-limit.js';
import type { InboundTls } from '../tls/accept.js';
import { ProxyListener } from '../proxy/server.js';
import type { Logger } from '../telemetry/logger.js';
import { codeName } from '../telemetry/metrics.js';
import { countConnectionErrors, countStreamRefusals, countConnections } from './mesh-metrics.js';
import { createSessionPool, listenerHttp2Options } from './pool.js';
import type { AppTelemetry } from './telemetry.js';

export interface InboundDeps {
  readonly log: Logger;
  readonly telemetry: AppTelemetry;
  /** The first reason the sidecar is not ready (Readiness.notReady); evaluated per health answer. */
  readonly notReady: () => string | undefined;
  /** The policy in force: its `authz` section governs the inbound chain (read per call, so reloads apply). */
  readonly policy: PolicyStore;
  /** The rate limiter and its counters (policy `rateLimits`, inbound ones). */
  readonly rateLimit?: Omit<RateLimitLayerDeps, 'log'>;
  /** How the pool reaches the app; default plain TCP (h2c). */
  readonly appConnector?: Connector;
  /** TLS on the inbound listener (`mtls.inbound.mode` strict or permissive); absent = plaintext h2c. */
  readonly tls?: InboundTls;
  /** `host:port` of the plaintext grpc.health.v1-only listener (`mtls.inbound.healthListen`); absent = none. */
  readonly healthListen?: string;
}

export interface AppInbound {
  readonly listener: ProxyListener;
  /** The plaintext health listener, when `mtls.inbound.healthListen` is set. */
  readonly healthListener: ProxyListener | undefined;
  readonly pool: SessionPool;
  readonly appHealth: AppHealth;
  readonly health: HealthService;
  /** Start hook: listens (port 0 allowed), then the health listener; returns the inbound listener's bound address. */
  start(): Promise<AddressInfo>;
  /** Start hook, once every listener is up: the app's first probe and its periodic ones start, Watch streams refresh. */
  startChecks(): void;
  /** Stop hook: stops the app health checks. */
  stopChecks(): void;
  /** Stop hook, after every background check stopped: closes the sessions to the app. */
  close(): void;
}

/** The `inbound` section of the bootstrap config. */
export type InboundConfig = NonNullable<BootstrapConfig['inbound']>;

/** Wires the inbound side described by `inbound` (the section of `config`). Starts nothing. */
export function createInbound(config: BootstrapConfig, inbound: InboundConfig, deps: InboundDeps): AppInbound {
  const { log, telemetry } = deps;
  const { metrics, obs } = telemetry;
  const pool = createSessionPool('inbound', config.connection, config.http2, log, metrics, deps.appConnector);
  // The grpc.health.v1 answers of the inbound port: the app's health (checked through the same pool) and the
  // sidecar's readiness (the /ready checks).
  const appAddress = inbound.app;
  let health: HealthService | undefined;
  const appHealth = createAppHealth({
    mode: obs.health.appCheck,
    address: appAddress,
    http: { address: obs.health.appHttp.address ?? appAddress, path: obs.health.appHttp.path },
    grpcCheck: (timeoutMs) => checkGrpcHealth(pool, appAddress, obs.health.appService, timeoutMs),
    intervalMs: obs.health.intervalMs,
    timeoutMs: obs.health.timeoutMs,
    log: log.child({ component: 'health' }),
    // Readiness can change between checks too (upstreams resolved): every check re-evaluates for Watch streams.
    onCheck: (result) => {
      metrics.health.appChecks.inc({ result });
      health?.refresh();
    },
  });
  health = createHealthService({ serviceName: config.service.name, ready: deps.notReady, app: appHealth });
  const listener = new ProxyListener({
    direction: 'inbound',
    listen: inbound.listen,
    ...listenerHttp2Options(config.http2),
    onConnection: countConnections(metrics, 'inbound'),
    onConnectionError: countConnectionErrors(metrics, 'inbound', log),
    onStreamRefused: countStreamRefusals(metrics, 'inbound', log),
    // With gRPC-Web the TLS front also hands on HTTP/1.1 (ALPN http/1.1, or plaintext in permissive mode).
    ...(deps.tls !== undefined ? { tls: inbound.grpcWeb?.enabled === true ? { ...deps.tls, http1: true } : deps.tls } : {}),
    // gRPC-Web (inbound.grpcWeb): browsers' calls run through the same chain; counted per protocol and encoding.
    ...(inbound.grpcWeb?.enabled === true
      ? {
          grpcWeb: {
            ...inbound.grpcWeb,
            onCall: (protocol, encoding, status) => metrics.grpcWeb.calls.inc({ protocol, encoding, grpc_code: codeName(status) }),
            onRejected: (reason) => metrics.grpcWeb.rejected.inc({ reason }),
          },
        }
      : {}),
    handler: inboundHandler({
      service: config.service.name,
      appAddress,
      pool,
      log,
      accessLog: config.log.accessLog,
      metrics: telemetry.callMetrics?.calls.inbound,
      tracing: telemetry.tracing,
      health,
      authz: { policy: deps.policy, decisions: metrics.authz.decisions, maxMethods: obs.metrics.maxMethods },
      policy: deps.policy,
      ...(deps.rateLimit !== undefined ? { rateLimit: deps.rateLimit } : {}),
    }),
  });
  const served = health;
  // Probes that present no mesh certificate (Consul's agent, kubelet) use this port; it answers only health.
  const healthListener =
    deps.healthListen === undefined
      ? undefined
      : new ProxyListener({
          direction: 'inbound',
          listen: deps.healthListen,
          ...listenerHttp2Options(config.http2),
          onConnectionError: countConnectionErrors(metrics, 'inbound', log),
          handler: healthPortHandler({ log, health: served }),
        });
  return {
    listener,
    healthListener,
    pool,
    appHealth,
    health: served,
    async start() {
      const address = await listener.start();
      if (healthListener !== undefined) {
        const h = await healthListener.start();
        log.info({ health: `${h.address}:${h.port}` }, 'plaintext health listener (grpc.health.v1 only) listening');
      }
      return address;
    },
    // Probing the app starts with the listeners up, so /clusters and the metrics know its health unasked.
    startChecks: () => {
      appHealth.start();
      served.refresh();
    },
    stopChecks: () => appHealth.stop(),
    close: () => pool.destroy(),
  };
}
