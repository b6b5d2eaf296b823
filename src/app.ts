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
import type { BalancingConfig, BootstrapConfig } from './config/schema.js';
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

export interface AppOptions {
  readonly log: Logger;
  /** Replaces discovery entirely (tests). Default: static endpoints from config, then Consul when configured. */
  readonly resolver?: Resolver;
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
}

export function createApp(config: BootstrapConfig, opts: AppOptions): App {
  const log = opts.log;
  setupRoundRobin();
  setupLeastRequest();
  setupRingHash();
  const poolOptions = config.connection;

  let inbound: ProxyListener | undefined;
  let inboundPool: SessionPool | undefined;
  if (config.inbound !== undefined) {
    inboundPool = new SessionPool(poolOptions, poolEvents(log, 'inbound'));
    inbound = new ProxyListener({
      direction: 'inbound',
      listen: config.inbound.listen,
      handler: inboundHandler({
        service: config.service.name,
        appAddress: config.inbound.app,
        pool: inboundPool,
        log,
        accessLog: config.log.accessLog,
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

  let outbound: ProxyListener | undefined;
  let outboundPool: SessionPool | undefined;
  let backends: Backends | undefined;
  if (config.outbound !== undefined) {
    const pool = new SessionPool(poolOptions, poolEvents(log, 'outbound'));
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
    });
    outbound = new ProxyListener({
      direction: 'outbound',
      listen: config.outbound.listen,
      handler: outboundHandler({ backends, pool, log, accessLog: config.log.accessLog }),
    });
  }

  const admin = new AdminServer(config.admin.listen);
  let listening = false;
  let draining = false;
  admin.addHealthRoutes([
    () => (draining ? 'draining' : undefined),
    () => (listening ? undefined : 'listeners not started'),
    () => {
      // Ready once every declared upstream has had its first discovery result (endpoints known).
      const pending = Object.keys(config.upstreams).filter((n) => backends?.get(n)?.resolved !== true);
      return pending.length === 0 ? undefined : `waiting for endpoints of ${pending.join(', ')}`;
    },
  ]);
  admin.route('GET', '/config', () => ({ status: 200, body: redactConfig(config) }));

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
    async start() {
      addresses.admin = await admin.start();
      if (inbound !== undefined) addresses.inbound = await inbound.start();
      if (outbound !== undefined) addresses.outbound = await outbound.start();
      // Declared upstreams are watched from the start, so the first call does not wait for discovery.
      for (const name of Object.keys(config.upstreams)) backends?.get(name);
      listening = true;
      if (config.consul?.register === true && consulClient !== undefined && addresses.inbound !== undefined) {
        const address = config.service.address ?? defaultServiceAddress();
        if (address === undefined) throw new Error('consul registration needs service.address: this host has no non-internal IPv4 address');
        const registration = buildServiceRegistration({
          service: config.service,
          address,
          port: addresses.inbound.port,
          check: config.consul.check,
        });
        registrar = createRegistrar(createConsulRegistration(consulClient, registration), { log: log.child({ component: 'consul' }) });
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
      draining = true;
      // Deregister first, so peers' discovery drops this instance while it still answers calls in flight.
      await registrar?.stop();
      log.info({ timeoutMs }, 'draining: GOAWAY sent, waiting for in-flight calls');
      const cuts = await Promise.all([inbound?.drain(timeoutMs) ?? 0, outbound?.drain(timeoutMs) ?? 0]);
      const cut = cuts[0] + cuts[1];
      if (cut > 0) log.warn({ cut }, 'drain timeout: calls cut');
      inboundPool?.destroy();
      outboundPool?.destroy();
      backends?.close();
      consulResolver?.close();
      consulClient?.close();
      await admin.close();
      log.info({ cut }, 'drained');
      return { cut };
    },
  };
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

function fmt(a: AddressInfo | undefined): string | undefined {
  if (a === undefined) return undefined;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
