// SPDX-License-Identifier: Apache-2.0
// Composition root, discovery area: which resolver serves each backend (static endpoints, then Consul), the Consul
// client shared by discovery and registration, and this instance's registration in Consul.

import type { AddressInfo } from 'node:net';
import type { BootstrapConfig } from '../config/schema.js';
import { consulClientOptions, createConsulClient, type ConsulClient } from '../discovery/consul/client.js';
import { createRegistrar, type Registrar } from '../discovery/consul/registrar.js';
import { buildServiceRegistration, createConsulRegistration, defaultServiceAddress } from '../discovery/consul/registration.js';
import { createConsulResolver, type ConsulResolver } from '../discovery/consul/resolver.js';
import type { Resolver } from '../discovery/resolver.js';
import { createRoutingResolver } from '../discovery/routing.js';
import { createStaticResolver } from '../discovery/static.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

export interface DiscoveryDeps {
  readonly log: Logger;
  /** Counts registration attempts (`meshlet_consul_registrations_total`). */
  readonly metrics: Metrics;
  /** Replaces discovery entirely (AppOptions.resolver, tests): every name is then known. Default: static + Consul. */
  readonly resolver?: Resolver;
}

export interface AppDiscovery {
  /** The resolver for the backends: `deps.resolver`, else static endpoints from config, then Consul when configured. */
  readonly resolver: Resolver;
  /** True when `resolver` can serve `name` (the outbound side rejects unknown names without any state). */
  isKnown(name: string): boolean;
  /** Present only when the config has a `consul` section. */
  readonly consulResolver: ConsulResolver | undefined;
  /** The agent client shared by discovery, registration and the Consul Connect certificate source; with `consul`. */
  readonly consulClient: ConsulClient | undefined;
  /** Present once register() has created it (`consul.register: true` and an inbound port). */
  readonly registrar: Registrar | undefined;
  /**
   * Start hook, once the listeners are up: registers this instance at `inbound`'s port when `consul.register` is
   * set. Its gRPC check dials `health`'s port (the plaintext health listener, `mtls.inbound.healthListen`) when
   * given, else the inbound port. The first attempt is awaited; a failing agent is retried in the background.
   * @throws Error when no `service.address` is set and this host has no non-internal IPv4 address.
   */
  register(inbound: AddressInfo | undefined, health?: AddressInfo): Promise<void>;
  /** First step of a drain: deregisters, so peers drop this instance while it still answers calls in flight. */
  deregister(): Promise<void>;
  /** Stop hook: ends the Consul watches, then the client. */
  close(): void;
}

/** Builds the resolvers and the Consul client (one for discovery and registration, only with `consul`). */
export function createDiscovery(config: BootstrapConfig, deps: DiscoveryDeps): AppDiscovery {
  const { log } = deps;
  let consulClient: ConsulClient | undefined;
  let consulResolver: ConsulResolver | undefined;
  if (config.consul !== undefined) {
    consulClient = createConsulClient(consulClientOptions(config.consul));
    consulResolver = createConsulResolver({
      client: consulClient,
      waitMs: config.consul.waitMs,
      watcher: {
        log: log.child({ component: 'consul' }),
        minIntervalMs: config.consul.watch.minIntervalMs,
        cpuShare: config.consul.watch.cpuShare,
        maxCostWaitMs: config.consul.watch.maxCostWaitMs,
        backoff: { baseMs: config.consul.watch.backoffBaseMs, maxMs: config.consul.watch.backoffMaxMs },
        logIntervalMs: config.consul.watch.logIntervalMs,
      },
    });
  }
  const routing = createRoutingResolver(createStaticResolver(config.upstreams), consulResolver);
  const override = deps.resolver;
  let registrar: Registrar | undefined;

  return {
    resolver: override ?? routing,
    isKnown: (name) => override !== undefined || routing.has(name),
    consulResolver,
    get registrar() {
      return registrar;
    },
    async register(inbound, health) {
      if (config.consul?.register !== true || consulClient === undefined || inbound === undefined) return;
      const address = config.service.address ?? defaultServiceAddress();
      if (address === undefined) throw new Error('consul registration needs service.address: this host has no non-internal IPv4 address');
      const registration = buildServiceRegistration({
        service: config.service,
        address,
        port: inbound.port,
        ...(health !== undefined && { checkPort: health.port }),
        check: config.consul.check,
      });
      registrar = createRegistrar(createConsulRegistration(consulClient, registration), {
        log: log.child({ component: 'consul' }),
        onAttempt: (ok) => deps.metrics.consul.registrations.inc({ result: ok ? 'ok' : 'error' }),
      });
      // The first attempt is awaited so a working agent has us registered when start() returns; a failing one
      // is retried in the background while the sidecar serves.
      await registrar.start();
    },
    async deregister() {
      await registrar?.stop();
    },
    consulClient,
    close() {
      consulResolver?.close();
      consulClient?.close();
    },
  };
}
