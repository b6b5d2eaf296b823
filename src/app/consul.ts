// SPDX-License-Identifier: Apache-2.0
// Composition root, the Consul part of discovery: the agent client, the resolver of Consul backends and this
// instance's registration. Reached only through import() from app/discovery.ts, and only when the bootstrap has a
// `consul` section, so a sidecar without Consul never loads the `consul` package (test/architecture/lazy-modules).

import type { AddressInfo } from 'node:net';
import type { BootstrapConfig, ConsulConfig } from '../config/schema.js';
import { consulClientOptions, createConsulClient, type ConsulClient } from '../discovery/consul/client.js';
import { createRegistrar, type Registrar } from '../discovery/consul/registrar.js';
import { buildServiceRegistration, createConsulRegistration, defaultServiceAddress } from '../discovery/consul/registration.js';
import { createConsulResolver, type ConsulResolver } from '../discovery/consul/resolver.js';
import type { Logger } from '../telemetry/logger.js';

export interface ConsulParts {
  readonly client: ConsulClient;
  readonly resolver: ConsulResolver;
  /**
   * Registers this instance at `inbound`'s port, its gRPC check dialing `checkPort` when given; the first attempt
   * is awaited, a failing agent retried in the background. `onAttempt` hears each attempt's result.
   * @throws Error when no `service.address` is set and this host has no non-internal IPv4 address.
   */
  register(inbound: AddressInfo, checkPort: number | undefined, onAttempt: (ok: boolean) => void): Promise<Registrar>;
}

/** The Consul client and resolver of `consul`, with the watch settings of the bootstrap. */
export function createConsulParts(config: BootstrapConfig, consul: ConsulConfig, log: Logger): ConsulParts {
  const client = createConsulClient(consulClientOptions(consul));
  const resolver = createConsulResolver({
    client,
    waitMs: consul.waitMs,
    watcher: {
      log: log.child({ component: 'consul' }),
      minIntervalMs: consul.watch.minIntervalMs,
      cpuShare: consul.watch.cpuShare,
      maxCostWaitMs: consul.watch.maxCostWaitMs,
      backoff: { baseMs: consul.watch.backoffBaseMs, maxMs: consul.watch.backoffMaxMs },
      logIntervalMs: consul.watch.logIntervalMs,
    },
  });
  return {
    client,
    resolver,
    async register(inbound, checkPort, onAttempt) {
      const address = config.service.address ?? defaultServiceAddress();
      if (address === undefined) throw new Error('consul registration needs service.address: this host has no non-internal IPv4 address');
      const registration = buildServiceRegistration({
        service: config.service,
        address,
        port: inbound.port,
        ...(checkPort !== undefined && { checkPort }),
        check: consul.check,
      });
      const registrar = createRegistrar(createConsulRegistration(client, registration), { log: log.child({ component: 'consul' }), onAttempt });
      // The first attempt is awaited so a working agent has us registered when start() returns; a failing one
      // is retried in the background while the sidecar serves.
      await registrar.start();
      return registrar;
    },
  };
}
