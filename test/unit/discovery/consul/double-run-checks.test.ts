// SPDX-License-Identifier: Apache-2.0
// The Consul double's `runChecks` option, which stands in for the agent running registered gRPC checks: a real
// grpc.health.v1 server on port 0 flips SERVING/NOT_SERVING and the check follows, bumping the index so blocking
// reads return; runners stop on deregister and close(). Waits on the double's events, never on sleeps.
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { createHealthService } from '../../../../examples/services/shared/health.js';
import { listen, type RunningServer } from '../../../../examples/services/shared/server.js';
import { startConsulDouble, type ConsulDouble, type ConsulDoubleOptions } from '../../../doubles/consul.js';

let double: ConsulDouble | undefined;
let app: RunningServer | undefined;

afterEach(async () => {
  await double?.close();
  double = undefined;
  await app?.close(0);
  app = undefined;
});

async function startApp(): Promise<RunningServer> {
  const health = createHealthService({ '': 'SERVING' });
  const server = new grpc.Server();
  server.addService(health.definition, health.implementation);
  app = await listen(server, health);
  return app;
}

async function startDouble(options: ConsulDoubleOptions = { runChecks: true, checkStagger: 0 }): Promise<ConsulDouble> {
  double = await startConsulDouble(options);
  return double;
}

async function register(d: ConsulDouble, target: string, extra: Record<string, unknown> = {}): Promise<void> {
  const res = await fetch(`${d.address}/v1/agent/service/register`, {
    method: 'PUT',
    body: JSON.stringify({
      ID: 'orders-1',
      Name: 'orders',
      Address: '127.0.0.1',
      Port: 1,
      Check: { CheckID: 'service:orders-1:grpc', GRPC: target, Interval: '1s', Timeout: '500ms', ...extra },
    }),
  });
  expect(res.status, await res.text()).toBe(200);
}

const statusOf = (d: ConsulDouble): string | undefined => d.checksOf('orders-1')[0]?.Status;

describe('consul double with runChecks', () => {
  it('marks a gRPC check passing once the target answers SERVING, and critical after NOT_SERVING, waking a blocking read', async () => {
    const target = await startApp();
    const d = await startDouble();
    await register(d, target.address);
    expect(statusOf(d)).toBe('critical'); // Consul's initial status, until the first run
    await d.waitFor(() => statusOf(d) === 'passing', 'first check passing');

    const index = d.indexOf('orders');
    const read = fetch(`${d.address}/v1/health/service/orders?passing=1&index=${index}&wait=30s`);
    await d.waitFor(() => d.blockedCount() === 1, 'blocking read parked');
    target.health.setStatus('', 'NOT_SERVING');

    const res = await read;
    expect(Number(res.headers.get('X-Consul-Index'))).toBeGreaterThan(index);
    expect(await res.json()).toEqual([]);
    expect(statusOf(d)).toBe('critical');
  });

  it('marks a check critical when its target refuses connections', async () => {
    const d = await startDouble();
    const closed = await startApp();
    const address = closed.address;
    await closed.close(0);
    app = undefined;
    await register(d, address, { Status: 'passing' });
    expect(statusOf(d)).toBe('passing');
    await d.waitFor(() => statusOf(d) === 'critical', 'check critical');
  });

  it('asks about the service named after the slash in the target', async () => {
    const target = await startApp();
    const d = await startDouble();
    // Only the named service goes NOT_SERVING: a runner asking about '' (the whole server) would stay passing.
    target.health.setStatus('orders.v1.Orders', 'SERVING');
    await register(d, `${target.address}/orders.v1.Orders`);
    await d.waitFor(() => statusOf(d) === 'passing', 'named-service check passing');
    target.health.setStatus('orders.v1.Orders', 'NOT_SERVING');
    await d.waitFor(() => statusOf(d) === 'critical', 'named-service check critical');
    expect(target.health.statusOf('')).toBe('SERVING');
  });

  it('stops the runner on deregister and on close()', async () => {
    const target = await startApp();
    const d = await startDouble();
    await register(d, target.address);
    expect(d.runningChecks()).toBe(1);
    const res = await fetch(`${d.address}/v1/agent/service/deregister/orders-1`, { method: 'PUT' });
    expect(res.status).toBe(200);
    expect(d.runningChecks()).toBe(0);

    await register(d, target.address);
    expect(d.runningChecks()).toBe(1);
    await d.close();
    expect(d.runningChecks()).toBe(0);
  });

  it('replaces the runner when the service is registered again', async () => {
    const target = await startApp();
    const d = await startDouble();
    await register(d, target.address);
    await register(d, target.address);
    expect(d.runningChecks()).toBe(1);
  });

  it('runs nothing without the option: checks keep their registered status', async () => {
    const target = await startApp();
    const d = await startDouble({});
    await register(d, target.address);
    expect(d.runningChecks()).toBe(0);
    expect(statusOf(d)).toBe('critical');
  });
});
