// SPDX-License-Identifier: Apache-2.0
// The composition root: the only module that wires modules together. Builds each area from a validated
// BootstrapConfig through src/app/* (telemetry → readiness → inbound → discovery → resilience → outbound → admin;
// each takes only what earlier ones built), then owns the lifecycle: start order and the two-phase drain.

import type { AddressInfo } from 'node:net';
import type { Backends } from './balance/backends.js';
import { setup as setupLeastRequest } from './balance/least-request.js';
import { setup as setupRingHash } from './balance/ring-hash.js';
import { setup as setupRoundRobin } from './balance/round-robin.js';
import type { BootstrapConfig } from './config/schema.js';
import type { Registrar } from './discovery/consul/registrar.js';
import type { ConsulResolver } from './discovery/consul/resolver.js';
import type { Resolver } from './discovery/resolver.js';
import type { HealthService } from './health/service.js';
import type { Policy } from './policy/schema.js';
import type { PolicyStore } from './policy/store.js';
import type { SessionPool } from './h2/session-pool.js';
import type { ResilienceEvents } from './resilience/events.js';
import type { Logger } from './telemetry/logger.js';
import type { Metrics } from './telemetry/metrics.js';
import type { Tracing } from './telemetry/tracing.js';
import { createAdmin } from './app/admin.js';
import { createDiscovery } from './app/discovery.js';
import { createInbound } from './app/inbound.js';
import { addCertMetrics, certificateValid, certSourceFromConfig, createMtls } from './app/mtls.js';
import type { CertSource } from './tls/material.js';
import type { InboundTls } from './tls/accept.js';
import type { Connector } from './h2/session-pool.js';
import { createOutbound } from './app/outbound.js';
import { createReadiness, upstreamsResolved } from './app/readiness.js';
import { createResilience } from './app/resilience.js';
import { createTelemetry } from './app/telemetry.js';
import { createRateLimit } from './app/ratelimit.js';

export interface AppOptions {
  readonly log: Logger;
  /** Replaces discovery entirely (tests). Default: static endpoints from config, then Consul when configured. */
  readonly resolver?: Resolver;
  /**
   * The policy in force at start (already validated, e.g. by main.ts). Default: loaded from `config.policy.file`
   * in `start()` when set, else the built-in defaults.
   */
  readonly policy?: Policy;
  /** Decision hooks of the resilience layers and policy reloads (metrics, tests). */
  readonly resilienceEvents?: ResilienceEvents;
  /**
   * This sidecar's certificates when `config.mtls` uses TLS on either side. Default: the source `mtls.source` names
   * (files, the built-in CA or Consul Connect). The app starts it (before any listener) and closes it on drain.
   */
  readonly certSource?: CertSource;
  /**
   * The environment the certificate source derives the Kubernetes identity from (MESHLET_POD_NAMESPACE,
   * MESHLET_SERVICE_ACCOUNT); main.ts passes process.env. Default: empty.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** TLS on the inbound listener from elsewhere than `config.mtls` (quick mode's --tls-* flags); wins over it. */
  readonly inboundTls?: InboundTls;
  /** How the inbound side reaches its app (quick mode's --upstream-tls); default plain TCP (h2c). */
  readonly appConnector?: Connector;
}

export interface AppAddresses {
  readonly inbound: AddressInfo | undefined;
  readonly outbound: AddressInfo | undefined;
  readonly admin: AddressInfo | undefined;
}

/** A running sidecar. `start` once, then `drain` once (or `close` in tests). */
export interface App {
  start(): Promise<AppAddresses>;
  readonly addresses: AppAddresses;
  /** Graceful shutdown: GOAWAY, in-flight calls finish up to shutdown.drainTimeoutMs, then everything closes. */
  drain(timeoutMs?: number): Promise<{ cut: number }>;
  readonly backends: Backends | undefined;
  /** Consul discovery and registration, when configured. */
  readonly consul: { readonly resolver: ConsulResolver; readonly registrar: Registrar | undefined } | undefined;
  readonly pools: { readonly inbound: SessionPool | undefined; readonly outbound: SessionPool | undefined };
  /** The resilience policy in force (hot-reloaded from `config.policy.file`); its per-backend state is in resilience/backend-state.ts. */
  readonly policy: PolicyStore;
  /** The metrics registry, tracing (when on) and the inbound health service (when inbound is set). */
  readonly observability: { readonly metrics: Metrics; readonly tracing: Tracing | undefined; readonly health: HealthService | undefined };
}

/**
 * Builds the sidecar from a validated config; starts nothing (see `App.start`). Async only because the
 * OpenTelemetry SDK is loaded on demand, when tracing is on (it is ~6-7 MiB of RSS a sidecar without tracing
 * does not pay).
 */
export async function createApp(config: BootstrapConfig, opts: AppOptions): Promise<App> {
  const log = opts.log;
  setupRoundRobin();
  setupLeastRequest();
  setupRingHash();

  // Wiring, in dependency order (construction order is also the order metric children are created in).
  const telemetry = await createTelemetry(config, { log, resilienceEvents: opts.resilienceEvents });
  const { metrics, tracing } = telemetry;
  const readiness = createReadiness();
  const discovery = await createDiscovery(config, { log, metrics, resolver: opts.resolver });
  // Certificates before the listeners that present them; the Consul Connect source asks discovery's agent client.
  const certSource =
    opts.certSource ?? certSourceFromConfig(config, { log, metrics, env: opts.env ?? {}, consul: discovery.consulClient });
  const mtls = createMtls(config, certSource, log);
  if (certSource !== undefined && mtls !== undefined) {
    readiness.add(certificateValid(certSource));
    addCertMetrics(metrics, certSource);
  }
  // The policy store before inbound: the inbound chain's authz reads it per call.
  const resilience = createResilience(config, { log, events: telemetry.events, policy: opts.policy });
  // The rate limiter both chains share (and its Redis client, for global limits).
  const rateLimit = await createRateLimit(config, { log, metrics, policy: resilience.store, maxMethods: telemetry.obs.metrics.maxMethods });
  const inbound =
    config.inbound === undefined
      ? undefined
      : createInbound(config, config.inbound, {
          log,
          telemetry,
          notReady: readiness.notReady,
          policy: resilience.store,
          rateLimit: rateLimit.layer,
          ...((opts.inboundTls ?? mtls?.inboundTls) !== undefined ? { tls: opts.inboundTls ?? mtls?.inboundTls } : {}),
          ...(opts.appConnector !== undefined ? { appConnector: opts.appConnector } : {}),
          ...(config.mtls?.inbound.healthListen !== undefined ? { healthListen: config.mtls.inbound.healthListen } : {}),
        });
  const health = inbound?.health;
  // Endpoint updates can change readiness (declared upstreams resolved): health answers re-evaluate.
  const onEndpointsChanged = () => health?.refresh();
  const outbound =
    config.outbound === undefined
      ? undefined
      : createOutbound(config, config.outbound, {
          log,
          telemetry,
          discovery,
          resilience,
          rateLimit: rateLimit.layer,
          onEndpointsChanged,
          ...(mtls?.outboundConnector !== undefined
            ? { mtls: { connector: mtls.outboundConnector, updateEndpoints: mtls.updateEndpoints } }
            : {}),
        });
  readiness.add(upstreamsResolved(Object.keys(config.upstreams), outbound?.backends));

  // The first half of a shutdown, shared by drain() and POST /drain: health turns NOT_SERVING (Watch streams
  // end), the instance deregisters, listeners send GOAWAY and calls in flight finish. Runs once.
  let listenersDrained: Promise<number> | undefined;
  const drainListeners = (timeoutMs: number): Promise<number> =>
    (listenersDrained ??= (async () => {
      readiness.markDraining();
      health?.shutdown();
      // Deregister first, so peers' discovery drops this instance while it still answers calls in flight.
      await discovery.deregister();
      log.info({ timeoutMs }, 'draining: GOAWAY sent, waiting for in-flight calls');
      const cuts = await Promise.all([
        inbound?.listener.drain(timeoutMs) ?? 0,
        outbound?.listener.drain(timeoutMs) ?? 0,
        inbound?.healthListener?.drain(timeoutMs) ?? 0,
      ]);
      const cut = cuts[0] + cuts[1] + cuts[2];
      if (cut > 0) log.warn({ cut }, 'drain timeout: calls cut');
      return cut;
    })());
  const admin = createAdmin(config, {
    log,
    telemetry,
    readiness,
    inbound,
    outbound,
    discovery,
    states: resilience.states,
    certSource: mtls === undefined ? undefined : certSource,
    drainListeners,
  });

  const addresses: { inbound: AddressInfo | undefined; outbound: AddressInfo | undefined; admin: AddressInfo | undefined } = {
    inbound: undefined,
    outbound: undefined,
    admin: undefined,
  };

  return {
    addresses,
    backends: outbound?.backends,
    get consul() {
      const resolver = discovery.consulResolver;
      return resolver === undefined ? undefined : { resolver, registrar: discovery.registrar };
    },
    pools: { inbound: inbound?.pool, outbound: outbound?.pool },
    policy: resilience.store,
    observability: { metrics, tracing, health },
    async start() {
      await resilience.start();
      // Certificates before any listener: a TLS listener or upstream session never runs without material.
      await mtls?.start();
      addresses.admin = await admin.start();
      if (inbound !== undefined) addresses.inbound = await inbound.start();
      // Declared upstreams are watched from the start (in outbound.start), so the first call does not wait.
      if (outbound !== undefined) addresses.outbound = await outbound.start();
      readiness.markListening();
      // The app's first health probe and the upstream checks start now, with every listener up.
      inbound?.startChecks();
      outbound?.startChecks();
      // The agent's check goes to the plaintext health port when there is one: the agent has no mesh certificate.
      await discovery.register(addresses.inbound, inbound?.healthListener?.address);
      log.info(
        {
          service: config.service.name,
          inbound: fmt(addresses.inbound),
          app: config.inbound?.app,
          outbound: fmt(addresses.outbound),
          admin: fmt(addresses.admin),
        },
        'meshlet listening',
      );
      return addresses;
    },
    async drain(timeoutMs = config.shutdown.drainTimeoutMs) {
      const cut = await drainListeners(timeoutMs);
      // Second half: background work stops before the sessions it uses close; the admin server closes last.
      inbound?.stopChecks();
      outbound?.stopChecks();
      resilience.close();
      rateLimit.close();
      inbound?.close();
      outbound?.close();
      mtls?.close();
      discovery.close();
      await telemetry.close(); // flushes the spans still queued
      await admin.close();
      log.info({ cut }, 'drained');
      return { cut };
    },
  };
}

function fmt(a: AddressInfo | undefined): string | undefined {
  if (a === undefined) return undefined;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
