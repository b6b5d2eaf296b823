// SPDX-License-Identifier: Apache-2.0
// Consul discovery end to end on real timers, against the Consul double with ACLs on: one sidecar registers
// from its bootstrap config, another discovers it through the Consul resolver as its health check flips, rides
// out an agent outage on its last good set, and sees it leave on deregistration. Everything closes cleanly.
import { afterEach, describe, expect, it } from 'vitest';
import { bootstrapSchema } from '../../src/config/schema.js';
import { consulClientOptions, createConsulClient, type ConsulClient } from '../../src/discovery/consul/client.js';
import { buildServiceRegistration, createConsulRegistration } from '../../src/discovery/consul/registration.js';
import { createConsulResolver, type ConsulResolver } from '../../src/discovery/consul/resolver.js';
import { startConsulDouble, type ConsulDouble } from '../doubles/consul.js';
import { ResultLog, waitUntil } from '../unit/discovery/consul/helpers.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function start(): Promise<ConsulDouble> {
  const d = await startConsulDouble({ aclToken: 'mesh-token' });
  cleanup.push(() => d.close());
  return d;
}

function sidecarConfig(d: ConsulDouble, name: string) {
  const config = bootstrapSchema.parse({
    service: { name, weight: 10, meta: { version: '1.2.0' } },
    inbound: { listen: '0.0.0.0:0', app: '127.0.0.1:50051' },
    outbound: {},
    consul: { address: d.address, token: 'mesh-token', waitMs: 5000 },
  });
  if (config.consul === undefined) throw new Error('fixture: consul section expected');
  const client: ConsulClient = createConsulClient(consulClientOptions(config.consul));
  cleanup.push(() => client.close());
  return { config, consul: config.consul, client };
}

describe('Consul discovery (integration, real timers)', () => {
  it('discovers a registered sidecar once healthy, keeps it through an outage, and drops it on deregister', async () => {
    const d = await start();

    // Sidecar A registers itself (inbound bound to port 4143 after listen).
    const a = sidecarConfig(d, 'orders');
    const registration = createConsulRegistration(
      a.client,
      buildServiceRegistration({ service: a.config.service, address: '10.0.0.5', port: 4143, check: a.consul.check }),
    );
    await registration.register();
    expect(d.registrations[0]).toMatchObject({
      ID: 'orders-10.0.0.5-4143',
      Weights: { Passing: 10, Warning: 1 },
      Checks: [{ GRPC: '10.0.0.5:4143', Interval: '10s', Timeout: '2s', DeregisterCriticalServiceAfter: '60s' }],
    });

    // Sidecar B discovers it.
    const b = sidecarConfig(d, 'web');
    const resolver: ConsulResolver = createConsulResolver({
      client: b.client,
      waitMs: b.consul.waitMs,
      watcher: { minIntervalMs: 10, backoff: { baseMs: 10, maxMs: 50 } },
    });
    cleanup.push(() => resolver.close());
    const log = new ResultLog();
    const watch = resolver.watch('orders', log.push);
    const until = (pred: () => boolean, label: string) => waitUntil(pred, [d, log], label);

    await until(() => log.results.length === 1, 'the first result');
    expect(log.last).toEqual({ ok: true, endpoints: [] }); // registered, but its check is still critical

    d.setHealth(registration.id, 'passing');
    await until(() => log.lastAddresses()?.length === 1, 'the instance to pass');
    const first = log.last;
    expect(first?.ok && first.endpoints[0]).toMatchObject({
      address: '10.0.0.5:4143',
      weight: 10,
      meta: { version: '1.2.0' },
    });
    expect(d.requestsTo('/v1/health/service/orders').every((r) => r.token === 'mesh-token')).toBe(true);

    await d.outage(true, 'error');
    await until(() => log.last?.ok === false, 'the outage to show');
    expect(resolver.stats()[0]).toMatchObject({ endpoints: 1 });
    await d.outage(false);
    await until(() => log.last?.ok === true, 'recovery');
    expect(log.lastAddresses()).toEqual(['10.0.0.5:4143']);
    expect(log.results.some((r) => r.ok && r.endpoints.length === 0 && r !== log.results[0])).toBe(false);

    await registration.deregister();
    await until(() => log.lastAddresses()?.length === 0, 'the instance to leave');

    watch.close();
    await d.waitFor(() => d.activeCount() === 0, 'no request left open');
    expect(resolver.stats()).toEqual([]);
  });
});
