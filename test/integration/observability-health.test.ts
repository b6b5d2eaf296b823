// SPDX-License-Identifier: Apache-2.0
// The sidecar's grpc.health.v1 service on its inbound port, checked with grpc-js's client (as Consul's gRPC check
// and kubelet `grpc` probes do): Check and Watch reflect the app's health and the sidecar's readiness, drain turns
// it NOT_SERVING; Consul's registered check points at it; active upstream checks take failing endpoints out.

import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { createHealthService, healthServiceDefinition, type HealthService } from '../../examples/services/shared/health.js';
import { startConsulDouble } from '../doubles/consul.js';
import { echoClient, startEcho, unary } from '../helpers/echo.js';
import { useScoped } from '../helpers/scoped.js';

const { defer, sidecar } = useScoped({ level: 'silent' });

/** A gRPC app that serves only grpc.health.v1, with a settable status. */
async function healthApp(initial: 'SERVING' | 'NOT_SERVING' = 'SERVING'): Promise<{ address: string; health: HealthService; close(): void }> {
  const server = new grpc.Server();
  const health = createHealthService({ '': initial });
  server.addService(health.definition, health.implementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const app = { address: `127.0.0.1:${port}`, health, close: () => server.forceShutdown() };
  defer(() => app.close());
  return app;
}

const HealthClient = grpc.makeGenericClientConstructor(healthServiceDefinition(), 'Health');
type Client = InstanceType<typeof HealthClient> & {
  Check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
  Watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
};

function healthClient(address: string): Client {
  const c = new HealthClient(address, grpc.credentials.createInsecure()) as Client;
  defer(() => c.close());
  return c;
}

function check(c: Client, service = ''): Promise<{ status?: string; code?: number }> {
  return new Promise((resolve) => c.Check({ service }, (err, res) => resolve(err ? { code: err.code } : { status: res?.status })));
}

/** Re-checks until the answer is `want` (the app's health is re-read every `health.intervalMs`). */
async function eventually(c: Client, want: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const r = await check(c);
    if (r.status === want) return;
    if (performance.now() > deadline) throw new Error(`health never became ${want}; last ${JSON.stringify(r)}`);
  }
}

interface InboundState {
  health: string;
  reason: string | null;
  appHealth: string;
}

/** GET /clusters until its inbound part satisfies `ok` (the app is probed every `health.intervalMs`). */
async function clustersUntil(admin: string, ok: (i: InboundState) => boolean, timeoutMs = 5000): Promise<InboundState> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const inbound = ((await (await fetch(`http://${admin}/clusters`)).json()) as { inbound: InboundState }).inbound;
    if (ok(inbound)) return inbound;
    if (performance.now() > deadline) throw new Error(`/clusters never matched; last ${JSON.stringify(inbound)}`);
  }
}

describe('app health probed from start (issue 13)', () => {
  it('/clusters and the metrics show a healthy app SERVING without any health call, and follow it going down', async () => {
    const app = await healthApp();
    const s = await sidecar({ service: { name: 'users' }, inbound: { listen: '127.0.0.1:0', app: app.address }, health: { intervalMs: 100 } });
    // Nobody calls grpc.health on the sidecar: the probe at start (and the periodic ones) are meshlet's own.
    const up = await clustersUntil(s.admin, (i) => i.appHealth !== 'UNKNOWN');
    expect(up).toMatchObject({ health: 'SERVING', reason: null, appHealth: 'SERVING' });
    const metrics = await (await fetch(`http://${s.admin}/metrics`)).text();
    expect(metrics).toMatch(/^meshlet_health_app_serving 1$/m);
    expect(metrics).toMatch(/^meshlet_health_app_checks_total\{result="serving"\} [1-9]/m);
    app.health.setStatus('', 'NOT_SERVING');
    const down = await clustersUntil(s.admin, (i) => i.appHealth === 'NOT_SERVING');
    expect(down).toMatchObject({ health: 'NOT_SERVING', reason: 'app not serving: app reports NOT_SERVING' });
  });
});

describe('grpc.health.v1 on the inbound port', () => {
  it('answers Check with the app health, NOT_FOUND for other services, and follows the app going down', async () => {
    const app = await healthApp();
    const s = await sidecar({ service: { name: 'users' }, inbound: { listen: '127.0.0.1:0', app: app.address }, health: { intervalMs: 100 } });
    const c = healthClient(s.inbound as string);
    expect(await check(c)).toEqual({ status: 'SERVING' });
    expect(await check(c, 'users')).toEqual({ status: 'SERVING' });
    expect(await check(c, 'orders')).toEqual({ code: grpc.status.NOT_FOUND });
    app.health.setStatus('', 'NOT_SERVING');
    await eventually(c, 'NOT_SERVING');
    app.health.setStatus('', 'SERVING');
    await eventually(c, 'SERVING');
  });

  it('is NOT_SERVING while the app is unreachable', async () => {
    const app = await healthApp();
    app.close();
    const s = await sidecar({ service: { name: 'users' }, inbound: { listen: '127.0.0.1:0', app: app.address } });
    expect(await check(healthClient(s.inbound as string))).toEqual({ status: 'NOT_SERVING' });
    const clusters = (await (await fetch(`http://${s.admin}/clusters`)).json()) as { inbound: { health: string; reason: string } };
    expect(clusters.inbound.health).toBe('NOT_SERVING');
    expect(clusters.inbound.reason).toMatch(/^app not serving/);
  });

  it('treats an app without a health service as serving (grpc mode) and checks by TCP connect in tcp mode', async () => {
    const echo = await startEcho();
    defer(() => echo.close());
    const grpcMode = await sidecar({ service: { name: 'e' }, inbound: { listen: '127.0.0.1:0', app: echo.address } });
    expect(await check(healthClient(grpcMode.inbound as string))).toEqual({ status: 'SERVING' });
    const tcpMode = await sidecar({ service: { name: 'e' }, inbound: { listen: '127.0.0.1:0', app: echo.address }, health: { appCheck: 'tcp', intervalMs: 100 } });
    const c = healthClient(tcpMode.inbound as string);
    expect(await check(c)).toEqual({ status: 'SERVING' });
    await echo.close();
    await eventually(c, 'NOT_SERVING');
  });

  it('streams Watch updates, and a drain (POST /drain) sends NOT_SERVING and ends the stream', async () => {
    const app = await healthApp();
    const s = await sidecar({ service: { name: 'users' }, inbound: { listen: '127.0.0.1:0', app: app.address }, health: { intervalMs: 100 } });
    const c = healthClient(s.inbound as string);
    const seen: string[] = [];
    const call = c.Watch({ service: '' });
    const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => {});
    const next = (want: string) =>
      new Promise<void>((resolve) => {
        const onData = (m: { status: string }) => {
          seen.push(m.status);
          if (m.status === want) {
            call.off('data', onData);
            resolve();
          }
        };
        call.on('data', onData);
      });
    // The first message may be NOT_SERVING while the first app check runs, then SERVING.
    await next('SERVING');
    app.health.setStatus('', 'NOT_SERVING');
    await next('NOT_SERVING');
    app.health.setStatus('', 'SERVING');
    await next('SERVING');
    const finalUpdate = next('NOT_SERVING');
    const res = await fetch(`http://${s.admin}/drain`, { method: 'POST' });
    expect(res.status).toBe(202);
    await finalUpdate;
    expect((await ended).code).toBe(grpc.status.OK);
    expect(seen.slice(-4)).toEqual(['SERVING', 'NOT_SERVING', 'SERVING', 'NOT_SERVING']);
    expect((await fetch(`http://${s.admin}/ready`)).status).toBe(503);
    expect(await (await fetch(`http://${s.admin}/metrics`)).text()).toMatch(/^meshlet_health_serving 0$/m);
  });

  it('answers Watch of an unknown service with SERVICE_UNKNOWN and keeps the stream open', async () => {
    const app = await healthApp();
    const s = await sidecar({ service: { name: 'users' }, inbound: { listen: '127.0.0.1:0', app: app.address } });
    const call = healthClient(s.inbound as string).Watch({ service: 'orders' });
    call.on('error', () => {});
    const first = await new Promise<{ status: string }>((resolve) => call.once('data', resolve));
    expect(first.status).toBe('SERVICE_UNKNOWN');
    call.cancel();
  });

  it('is what Consul\'s registered gRPC check reaches: the inbound port, no service name', async () => {
    const consul = await startConsulDouble();
    defer(() => consul.close());
    const app = await healthApp();
    const s = await sidecar({
      service: { name: 'users', address: '127.0.0.1' },
      inbound: { listen: '127.0.0.1:0', app: app.address },
      consul: { address: consul.address },
    });
    const reg = consul.registrations[0] as { Checks: Array<{ GRPC: string }> };
    expect(reg.Checks[0]?.GRPC).toBe(s.inbound);
    // What the agent does every interval: Check("") on that address.
    expect(await check(healthClient(reg.Checks[0]?.GRPC as string))).toEqual({ status: 'SERVING' });
    const text = await (await fetch(`http://${s.admin}/metrics`)).text();
    expect(text).toMatch(/^meshlet_consul_registered 1$/m);
    expect(text).toMatch(/^meshlet_consul_registrations_total\{result="ok"\} 1$/m);
  });
});

describe('active upstream health checks', () => {
  it('takes an endpoint whose app is NOT_SERVING out of the picker', async () => {
    const echoGood = await startEcho();
    defer(() => echoGood.close());
    // Peer sidecars answer health for their app: one healthy, one not. Both front echo servers for data calls.
    const good = await sidecar({ service: { name: 'svc' }, inbound: { listen: '127.0.0.1:0', app: echoGood.address } });
    const badEcho = await startEcho();
    defer(() => badEcho.close());
    const bad = await sidecar({ service: { name: 'svc' }, inbound: { listen: '127.0.0.1:0', app: badEcho.address }, health: { appCheck: 'none' } });
    // Make the "bad" peer NOT_SERVING by draining its health (as during a rollout): its listener stays up for data.
    bad.app.observability.health?.shutdown();
    const a = await sidecar({
      service: { name: 'caller' },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: { svc: { endpoints: [good.inbound as string, bad.inbound as string], balancing: { policy: 'round_robin' } } },
      health: { upstreams: { enabled: true, unhealthyThreshold: 1, intervalMs: 1000 } },
    });
    type Clusters = { upstreams: Array<{ name: string; endpoints: Array<{ address: string; healthy: boolean; ready: boolean; healthCheck?: { lastStatus: string } }> }> };
    const deadline = performance.now() + 5000;
    let eps: Clusters['upstreams'][number]['endpoints'] = [];
    while (performance.now() < deadline) {
      const clusters = (await (await fetch(`http://${a.admin}/clusters`)).json()) as Clusters;
      eps = clusters.upstreams.find((u) => u.name === 'svc')?.endpoints ?? [];
      if (eps.some((e) => e.healthCheck !== undefined && !e.healthy)) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(eps.find((e) => e.address === bad.inbound)).toMatchObject({ healthy: false, ready: false, healthCheck: { lastStatus: 'NOT_SERVING' } });
    expect(eps.find((e) => e.address === good.inbound)).toMatchObject({ healthy: true, ready: true });
    const c = echoClient(a.outbound as string, 'svc');
    defer(() => c.close());
    for (let i = 0; i < 10; i++) expect((await unary(c, Buffer.from('x'))).err).toBeNull();
    expect(echoGood.calls).toHaveLength(10);
    expect(badEcho.calls).toHaveLength(0);
    const text = await (await fetch(`http://${a.admin}/metrics`)).text();
    expect(text).toMatch(/^meshlet_health_upstream_transitions_total\{upstream="svc",to="unhealthy"\} 1$/m);
    expect(text).toMatch(/^meshlet_upstream_endpoints_unhealthy\{upstream="svc"\} 1$/m);
  });
});
