// SPDX-License-Identifier: Apache-2.0
// Composition root, discovery area: which resolver serves each backend (static endpoints, then Consul), the Consul
// client shared by discovery and registration, and this instance's registration in Consul. The Consul part
// (app/consul.ts) is imported only when the bootstrap has `consul`: a sidecar without Consul does not load the `consul` package.

import type { AddressInfo } from 'node:net';
import type { BootstrapConfig } from '../config/schema.js';
import type { ConsulClient } from '../discovery/consul/client.js';
import type { Registrar } from '../discovery/consul/registrar.js';
import type { ConsulResolver } from '../discovery/consul/resolver.js';
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

/**
 * Builds the resolvers and the Consul client (one for discovery and registration, only with `consul`). Async only
 * because the Consul part is loaded on demand.
 */
export async function createDiscovery(config: BootstrapConfig, deps: DiscoveryDeps): Promise<AppDiscovery> {
  const { log } = deps;
  const consul = config.consul === undefined ? undefined : (await import('./consul.js')).createConsulParts(config, config.consul, log);
  const consulClient = consul?.client;
  const consulResolver = consul?.resolver;
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
      if (config.consul?.register !== true || consul === undefined || inbound === undefined) return;
      registrar = await consul.register(inbound, health?.port, (ok) => deps.metrics.consul.registrations.inc({ result: ok ? 'ok' : 'error' }));
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
