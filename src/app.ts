// SPDX-License-Identifier: Apache-2.0
// The composition root: the only module that wires modules together. Builds pools, discovery, backends, chains,
// listeners and the admin server from a validated BootstrapConfig; starts them; drains them on shutdown.

import type { AddressInfo } from 'node:net';
import { AdminServer } from './admin/server.js';
import { Backends, type BackendBalancing } from './balance/backends.js';
import { systemPickerEnv } from './balance/random.js';
import { setup as setupLeastRequest } from './balance/least-request.js';
import { getPolicy } from './balance/registry.js';
import { setup as setupRingHash } from './balance/ring-hash.js';
import { setup as setupRoundRobin } from './balance/round-robin.js';
import { type BalancingConfig, type BootstrapConfig, observabilityConfig } from './config/schema.js';
import { redactConfig } from './config/redact.js';
import { consulClientOptions, createConsulClient, type ConsulClient } from './discovery/consul/client.js';
import { createRegistrar, type Registrar } from './discovery/consul/registrar.js';
import { buildServiceRegistration, createConsulRegistration, defaultServiceAddress } from './discovery/consul/registration.js';
import { createConsulResolver, type ConsulResolver } from './discovery/consul/resolver.js';
import type { Resolver } from './discovery/resolver.js';
import { createRoutingResolver } from './discovery/routing.js';
import { createStaticResolver } from './discovery/static.js';
import { SessionPool } from './proxy/http2/session-pool.js';
import { inboundHandler } from './proxy/inbound.js';
import { outboundHandler } from './proxy/outbound.js';
import { ProxyListener } from './proxy/server.js';
import type { Logger } from './telemetry/logger.js';
// Resilience policy (issue 4).
import { formatIssue } from './config/errors.js';
import { fileSource, staticSource } from './config/source.js';
import { watchConfigFile, type ConfigWatcher } from './config/watch.js';
import { loadPolicy } from './policy/load.js';
import { EMPTY_POLICY, type Policy } from './policy/schema.js';
import { PolicyStore } from './policy/store.js';
import type { ResilienceEvents } from './resilience/events.js';
import { createDecisionLog } from './resilience/decision-log.js';
// Observability (issue 5).
import { addClustersRoute } from './admin/routes/clusters.js';
import { addDrainRoute } from './admin/routes/drain.js';
import { addLogLevelRoutes } from './admin/routes/log-level.js';
import { addMetricsRoute } from './admin/routes/metrics.js';
import { type AppHealth, createAppHealth } from './health/app-health.js';
import { checkGrpcHealth } from './health/grpc-check.js';
import { createHealthService, type HealthService } from './health/service.js';
import { createUpstreamChecker, type UpstreamChecker } from './health/upstream-checker.js';
import { backendFromAuthority } from './proxy/layers/route.js';
import { combineEvents } from './resilience/events.js';
import { addMeshStateMetrics, countConnections, countPoolEvents } from './telemetry/mesh-metrics.js';
import { createMetrics, type Metrics, resilienceEvents } from './telemetry/metrics.js';
import { loadMethodTypes } from './telemetry/method-types.js';
import { addProcessMetrics, meshletVersion } from './telemetry/process-metrics.js';
import { createTracing, type Tracing } from './telemetry/tracing.js';

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
  /** The resilience policy in force and its per-backend state (hot-reloaded from `config.policy.file`). */
  readonly policy: PolicyStore;
  /** (issue 5) The metrics registry, tracing (when on) and the inbound health service (when inbound is set). */
  readonly observability: { readonly metrics: Metrics; readonly tracing: Tracing | undefined; readonly health: HealthService | undefined };
}

export function createApp(config: BootstrapConfig, opts: AppOptions): App {
  const log = opts.log;
  setupRoundRobin();
  setupLeastRequest();
  setupRingHash();
  const poolOptions = config.connection;

  // Observability (issue 5): one registry for every metric; per-call layers only when metrics are enabled, and
  // tracing only when on (otherwise no layer and no per-call cost). Resilience hooks count into the registry too.
  const version = meshletVersion();
  const obs = observabilityConfig(config);
  const metrics = createMetrics({
    serviceName: config.service.name,
    upstreamOf: backendFromAuthority,
    maxMethods: obs.metrics.maxMethods,
    maxUpstreams: obs.metrics.maxUpstreams,
    countUnknownMessages: obs.metrics.countUnknownMessages,
    methodTypes: loadMethodTypes(obs.metrics.methodTypes, obs.metrics.protoFiles),
  });
  if (obs.metrics.process) addProcessMetrics(metrics.registry, { version });
  const callMetrics = obs.metrics.enabled ? metrics : undefined;
  const tracing =
    obs.tracing.mode === 'on'
      ? createTracing({
          serviceName: obs.tracing.serviceName ?? config.service.name,
          sampleRatio: obs.tracing.sampleRatio,
          propagation: obs.tracing.propagation,
          endpoint: obs.tracing.endpoint,
          batchDelayMs: obs.tracing.batchDelayMs,
          exportTimeoutMs: obs.tracing.exportTimeoutMs,
          maxQueueSize: obs.tracing.maxQueueSize,
          version,
          log: log.child({ component: 'tracing' }),
          onExport: (spans, ok) => (ok ? metrics.tracing.spansExported : metrics.tracing.spansFailed).inc(spans),
        })
      : undefined;
  const events = combineEvents(resilienceEvents(metrics), opts.resilienceEvents);
  let appHealth: AppHealth | undefined;
  let health: HealthService | undefined;
  let upstreamChecker: UpstreamChecker | undefined;

  let inbound: ProxyListener | undefined;
  let inboundPool: SessionPool | undefined;
  if (config.inbound !== undefined) {
    inboundPool = new SessionPool(poolOptions, countPoolEvents(poolEvents(log, 'inbound'), metrics, 'inbound'));
    // (issue 5) The grpc.health.v1 answers of the inbound port: the app's health (checked through the same pool)
    // and the sidecar's readiness (the /ready checks below).
    const appPool = inboundPool;
    const appAddress = config.inbound.app;
    appHealth = createAppHealth({
      mode: obs.health.appCheck,
      address: appAddress,
      http: { address: obs.health.appHttp.address ?? appAddress, path: obs.health.appHttp.path },
      grpcCheck: (timeoutMs) => checkGrpcHealth(appPool, appAddress, obs.health.appService, timeoutMs),
      intervalMs: obs.health.intervalMs,
      timeoutMs: obs.health.timeoutMs,
      log: log.child({ component: 'health' }),
      // Readiness can change between checks too (upstreams resolved): every check re-evaluates for Watch streams.
      onCheck: (result) => {
        metrics.health.appChecks.inc({ result });
        health?.refresh();
      },
    });
    health = createHealthService({ serviceName: config.service.name, ready: () => notReady(), app: appHealth });
    inbound = new ProxyListener({
      direction: 'inbound',
      listen: config.inbound.listen,
      onConnection: countConnections(metrics, 'inbound'),
      handler: inboundHandler({
        service: config.service.name,
        appAddress: config.inbound.app,
        pool: inboundPool,
        log,
        accessLog: config.log.accessLog,
        metrics: callMetrics?.calls.inbound,
        tracing,
        health,
      }),
    });
  }

  // Consul: one client for discovery and registration, used only when the config has a consul section.
  let consulClient: ConsulClient | undefined;
  let consulResolver: ConsulResolver | undefined;
  if (config.consul !== undefined) {
    consulClient = createConsulClient(consulClientOptions(config.consul));
    consulResolver = createConsulResolver({
      client: consulClient,
      waitMs: config.consul.waitMs,
      watcher: { log: log.child({ component: 'consul' }) },
    });
  }
  let registrar: Registrar | undefined;

  // Resilience policy: one store for the process; a reload swaps its snapshot, state carries over by key.
  // Its decisions go to the metrics hooks and to a throttled log (overflow, open breaker, budget, shadow).
  const policyEvents = combineEvents(events, createDecisionLog({ log: log.child({ component: 'resilience' }) }));
  const policyStore = new PolicyStore(opts.policy ?? EMPTY_POLICY, { events: policyEvents });
  let policyWatcher: ConfigWatcher | undefined;

  let outbound: ProxyListener | undefined;
  let outboundPool: SessionPool | undefined;
  let backends: Backends | undefined;
  if (config.outbound !== undefined) {
    const pool = new SessionPool(poolOptions, countPoolEvents(poolEvents(log, 'outbound'), metrics, 'outbound'));
    outboundPool = pool;
    const routing = createRoutingResolver(createStaticResolver(config.upstreams), consulResolver);
    const resolver = opts.resolver ?? routing;
    backends = new Backends({
      resolver,
      isKnown: (name) => opts.resolver !== undefined || routing.has(name),
      idleTimeoutMs: config.consul?.idleWatchTimeoutMs,
      balancingFor: (name) => balancingFor(config, name),
      env: systemPickerEnv,
      log: log.child({ component: 'discovery' }),
      onEndpointRemoved: (address) => pool.retire(address),
      // (issue 5) New or changed endpoints are health-checked at once when active checks are on.
      onUpdate: (b) => {
        void upstreamChecker?.checkBackend(b);
        health?.refresh(); // readiness waits for the first endpoints of declared upstreams
      },
    });
    outbound = new ProxyListener({
      direction: 'outbound',
      listen: config.outbound.listen,
      onConnection: countConnections(metrics, 'outbound'),
      handler: outboundHandler({
        backends,
        pool,
        log,
        accessLog: config.log.accessLog,
        policy: policyStore,
        resilienceEvents: policyEvents,
        metrics: callMetrics === undefined ? undefined : { calls: callMetrics.calls.outbound, attempts: callMetrics.attempts },
        tracing,
      }),
    });
    // (issue 5) Optional active gRPC health checks of upstream endpoints, feeding the pickers.
    const up = obs.health.upstreams;
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
  }

  const admin = new AdminServer(config.admin.listen);
  let listening = false;
  let draining = false;
  const readinessChecks = [
    () => (draining ? 'draining' : undefined),
    () => (listening ? undefined : 'listeners not started'),
    () => {
      // Ready once every declared upstream has had its first discovery result (endpoints known).
      const pending = Object.keys(config.upstreams).filter((n) => backends?.get(n)?.resolved !== true);
      return pending.length === 0 ? undefined : `waiting for endpoints of ${pending.join(', ')}`;
    },
  ];
  admin.addHealthRoutes(readinessChecks);
  admin.route('GET', '/config', () => ({ status: 200, body: redactConfig(config) }));
  // (issue 5) The first reason the sidecar is not ready (the same checks as /ready), for its health answers.
  function notReady(): string | undefined {
    for (const check of readinessChecks) {
      const reason = check();
      if (reason !== undefined) return reason;
    }
    return undefined;
  }
  // (issue 5) The first half of a shutdown, shared by drain() and POST /drain: health turns NOT_SERVING (Watch
  // streams end), the instance deregisters, listeners send GOAWAY and calls in flight finish. Runs once.
  let listenersDrained: Promise<number> | undefined;
  const drainListeners = (timeoutMs: number): Promise<number> =>
    (listenersDrained ??= (async () => {
      draining = true;
      health?.shutdown();
      // Deregister first, so peers' discovery drops this instance while it still answers calls in flight.
      await registrar?.stop();
      log.info({ timeoutMs }, 'draining: GOAWAY sent, waiting for in-flight calls');
      const cuts = await Promise.all([inbound?.drain(timeoutMs) ?? 0, outbound?.drain(timeoutMs) ?? 0]);
      const cut = cuts[0] + cuts[1];
      if (cut > 0) log.warn({ cut }, 'drain timeout: calls cut');
      return cut;
    })());
  // (issue 5) Admin: /metrics, /clusters, /log-level, /drain; mesh-state metrics computed at scrape time.
  addMetricsRoute(admin, metrics);
  addClustersRoute(admin, {
    inbound:
      config.inbound === undefined
        ? undefined
        : () => ({
            service: config.service.name,
            app: config.inbound?.app,
            health: health?.current(),
            reason: health?.reason() ?? null,
            appHealth: appHealth?.status(),
            appCheck: obs.health.appCheck,
          }),
    backends,
    outboundPool,
    inboundPool,
    upstreamHealth: upstreamChecker === undefined ? undefined : (address) => upstreamChecker?.state(address),
    // Breaker, limits and outlier state of issue 4's per-backend resilience (only backends that have state).
    backendDetail: (name) => {
      const r = resilienceOf(policyStore, name);
      if (r === undefined) return undefined;
      const l = r.limiter;
      return { breaker: r.breaker.state, limits: { inflight: l.inflight, pending: l.pending, retriesInflight: l.retriesInflight } };
    },
    endpointDetail: (name, address) => {
      const ejected = resilienceOf(policyStore, name)?.outlier.ejected().find((e) => e.address === address);
      return ejected === undefined ? undefined : { outlier: ejected.health, ejections: ejected.ejections };
    },
    consul: consulResolver === undefined ? undefined : () => consulResolver?.stats() ?? [],
  });
  addLogLevelRoutes(admin, log, obs.allowRemoteMutations);
  addDrainRoute(admin, () => drainListeners(config.shutdown.drainTimeoutMs), obs.allowRemoteMutations);
  addMeshStateMetrics(metrics, {
    backends,
    pools: { inbound: inboundPool, outbound: outboundPool },
    consul: consulResolver === undefined ? undefined : () => consulResolver?.stats() ?? [],
    registration: config.consul?.register === true ? () => registrar?.state : undefined,
    inflight: {
      inbound: inbound === undefined ? undefined : () => inbound?.activeCalls ?? 0,
      outbound: outbound === undefined ? undefined : () => outbound?.activeCalls ?? 0,
    },
    served: health === undefined ? undefined : () => health?.current() ?? 'NOT_SERVING',
    app: appHealth === undefined ? undefined : () => appHealth?.status() ?? 'UNKNOWN',
  });

  const addresses: { inbound: AddressInfo | undefined; outbound: AddressInfo | undefined; admin: AddressInfo | undefined } = {
    inbound: undefined,
    outbound: undefined,
    admin: undefined,
  };

  return {
    addresses,
    backends,
    get consul() {
      return consulResolver === undefined ? undefined : { resolver: consulResolver, registrar };
    },
    pools: { inbound: inboundPool, outbound: outboundPool },
    policy: policyStore,
    observability: { metrics, tracing, health },
    async start() {
      if (config.policy !== undefined) policyWatcher = await startPolicy(config.policy, policyStore, { ...opts, resilienceEvents: policyEvents }, log);
      addresses.admin = await admin.start();
      if (inbound !== undefined) addresses.inbound = await inbound.start();
      if (outbound !== undefined) addresses.outbound = await outbound.start();
      // Declared upstreams are watched from the start, so the first call does not wait for discovery.
      for (const name of Object.keys(config.upstreams)) backends?.get(name);
      listening = true;
      // (issue 5) App health checks start with the first health request (on demand); upstream checks start now.
      health?.refresh();
      upstreamChecker?.start();
      if (config.consul?.register === true && consulClient !== undefined && addresses.inbound !== undefined) {
        const address = config.service.address ?? defaultServiceAddress();
        if (address === undefined) throw new Error('consul registration needs service.address: this host has no non-internal IPv4 address');
        const registration = buildServiceRegistration({
          service: config.service,
          address,
          port: addresses.inbound.port,
          check: config.consul.check,
        });
        registrar = createRegistrar(createConsulRegistration(consulClient, registration), {
          log: log.child({ component: 'consul' }),
          onAttempt: (ok) => metrics.consul.registrations.inc({ result: ok ? 'ok' : 'error' }), // (issue 5)
        });
        // The first attempt is awaited so a working agent has us registered when start() returns; a failing one
        // is retried in the background while the sidecar serves.
        await registrar.start();
      }
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
      appHealth?.stop();
      upstreamChecker?.stop();
      policyWatcher?.close();
      inboundPool?.destroy();
      outboundPool?.destroy();
      backends?.close();
      consulResolver?.close();
      consulClient?.close();
      await tracing?.shutdown(); // (issue 5) flushes the spans still queued
      await admin.close();
      log.info({ cut }, 'drained');
      return { cut };
    },
  };
}

/**
 * Loads the policy file (unless `opts.policy` was given) and starts watching it. A bad file at startup fails
 * `start()` with every issue; later bad versions are only rejected (the watcher keeps the last good one).
 */
async function startPolicy(
  policy: NonNullable<BootstrapConfig['policy']>,
  store: PolicyStore,
  opts: AppOptions,
  log: Logger,
): Promise<ConfigWatcher> {
  const plog = log.child({ component: 'policy' });
  let initialText: string | undefined;
  if (opts.policy === undefined) {
    // Read once: the watcher compares later versions with exactly the text that was validated.
    initialText = await fileSource(policy.file).read().catch(() => undefined);
    const loaded = await loadPolicy(initialText === undefined ? fileSource(policy.file) : staticSource(policy.file, initialText));
    if (!loaded.ok) throw new Error(`policy ${policy.file} is invalid:\n${loaded.errors.map(formatIssue).join('\n')}`);
    store.swap(loaded.config);
  }
  plog.info({ file: policy.file }, 'policy loaded');
  return watchConfigFile({
    path: policy.file,
    load: loadPolicy,
    apply: (next) => store.swap(next),
    log: plog,
    debounceMs: policy.reloadDebounceMs,
    initialText,
    onReload: opts.resilienceEvents?.onReload?.bind(opts.resilienceEvents),
  });
}

function balancingFor(config: BootstrapConfig, name: string): BackendBalancing {
  const b: BalancingConfig = config.upstreams[name]?.balancing ?? { policy: 'least_request', ringSize: 1024 };
  return { policy: getPolicy(b.policy) as BackendBalancing['policy'], options: b, hashHeader: b.hashHeader };
}

function poolEvents(log: Logger, direction: 'inbound' | 'outbound') {
  const plog = log.child({ component: 'pool', direction });
  return {
    onConnect: (address: string) => plog.debug({ upstream: address }, 'upstream session connected'),
    onConnectError: (address: string, err: Error) => plog.warn({ upstream: address, err: err.message }, 'upstream connect failed'),
    onClose: (address: string, reason: string) => plog.debug({ upstream: address, reason }, 'upstream session closed'),
  };
}

/** (issue 5) The resilience state of a backend for /clusters, without creating it when there is none. */
function resilienceOf(store: PolicyStore, name: string) {
  for (const r of store.backends()) if (r.name === name) return r;
  return undefined;
}

function fmt(a: AddressInfo | undefined): string | undefined {
  if (a === undefined) return undefined;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
