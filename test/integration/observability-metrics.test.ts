// SPDX-License-Identifier: Apache-2.0
// /metrics after a scripted set of calls through two sidecars (app → outbound A → inbound B → echo), parsed by the
// Prometheus text-format rules, with exact counter values: successes, upstream errors, meshlet-made errors,
// streams and their messages, health checks, attempts; then retries, an ejection and a rejected policy reload
// (issue 4's hooks) on a backend with one failing endpoint.

import http2 from 'node:http2';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { healthServiceDefinition } from '../../examples/services/shared/health.js';
import { startEcho, unary, type EchoClient } from '../helpers/echo.js';
import { scrape } from '../helpers/prom-text.js';
import { useScoped } from '../helpers/scoped.js';

const { defer, sidecar, client } = useScoped();

function serverStream(c: EchoClient, md: grpc.Metadata): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const call = c.ServerStream(Buffer.from('go'), md);
    call.on('data', () => n++);
    call.on('error', reject);
    call.on('end', () => resolve(n));
  });
}

function bidi(c: EchoClient, messages: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const call = c.Bidi(new grpc.Metadata());
    call.on('data', () => n++);
    call.on('error', reject);
    call.on('end', () => resolve(n));
    for (const m of messages) call.write(m);
    call.end();
  });
}

const HealthClient = grpc.makeGenericClientConstructor(healthServiceDefinition(), 'Health');
type Health = InstanceType<typeof HealthClient> & {
  Check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
};

const TYPES = { 'test.Echo/Unary': 'unary', 'test.Echo/ServerStream': 'server_stream' } as const;

describe('metrics through two sidecars', () => {
  it('counts a scripted set of calls exactly, on both sides', async () => {
    const echo = await startEcho();
    defer(() => echo.close());
    const b = await sidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: echo.address }, metrics: { methodTypes: TYPES } });
    const a = await sidecar({
      service: { name: 'caller' },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: { echo: { endpoints: [b.inbound as string] } },
      metrics: { methodTypes: TYPES, countUnknownMessages: true },
    });
    const c = client(a.outbound as string, 'echo:6140');
    const payload = Buffer.alloc(10, 1); // 15 bytes framed

    for (let i = 0; i < 3; i++) expect((await unary(c, payload)).err).toBeNull();
    const notFound = new grpc.Metadata();
    notFound.set('respond-with-status', '5');
    expect((await unary(c, payload, notFound)).err?.code).toBe(grpc.status.NOT_FOUND);
    const stream = new grpc.Metadata();
    stream.set('stream-count', '4');
    stream.set('stream-size', '8');
    expect(await serverStream(c, stream)).toBe(4);
    expect(await bidi(c, [Buffer.from('ab'), Buffer.from('cde')])).toBe(2);
    // A meshlet-made failure: no such backend (never reaches B).
    const nope = client(a.outbound as string, 'nope:6140');
    const r = await unary(nope, payload);
    expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(r.trailers?.get('x-meshlet-error')).toEqual(['ERR_UNKNOWN_BACKEND']);
    // Consul's / kubelet's view: a health Check on B's inbound port, answered by B itself.
    const health = new HealthClient(b.inbound as string, grpc.credentials.createInsecure()) as Health;
    defer(() => health.close());
    const status = await new Promise<string | undefined>((resolve, reject) => health.Check({ service: '' }, (err, res) => (err ? reject(err) : resolve(res?.status))));
    expect(status).toBe('SERVING');

    const pa = await scrape(a.admin);
    const unaryLabels = { direction: 'outbound', upstream: 'echo', grpc_type: 'unary', grpc_service: 'test.Echo', grpc_method: 'Unary' };
    expect(pa.value('meshlet_grpc_started_total', unaryLabels)).toBe(4);
    expect(pa.value('meshlet_grpc_handled_total', { ...unaryLabels, grpc_code: 'OK' })).toBe(3);
    expect(pa.value('meshlet_grpc_handled_total', { ...unaryLabels, grpc_code: 'NotFound' })).toBe(1);
    expect(pa.value('meshlet_grpc_handling_seconds_count', unaryLabels)).toBe(4);
    expect(pa.value('meshlet_grpc_request_bytes_total', unaryLabels)).toBe(60);
    expect(pa.value('meshlet_grpc_response_bytes_total', unaryLabels)).toBe(45);
    expect(pa.value('meshlet_grpc_msg_received_total', unaryLabels)).toBe(4);
    expect(pa.value('meshlet_grpc_msg_sent_total', unaryLabels)).toBe(3);
    const streamLabels = { ...unaryLabels, grpc_type: 'server_stream', grpc_method: 'ServerStream' };
    expect(pa.value('meshlet_grpc_handled_total', { ...streamLabels, grpc_code: 'OK' })).toBe(1);
    expect(pa.value('meshlet_grpc_msg_sent_total', streamLabels)).toBe(4);
    expect(pa.value('meshlet_grpc_msg_received_total', streamLabels)).toBe(1);
    expect(pa.value('meshlet_grpc_response_bytes_total', streamLabels)).toBe(4 * 13);
    const bidiLabels = { ...unaryLabels, grpc_type: 'unknown', grpc_method: 'Bidi' };
    expect(pa.value('meshlet_grpc_msg_received_total', bidiLabels)).toBe(2);
    expect(pa.value('meshlet_grpc_msg_sent_total', bidiLabels)).toBe(2);
    const nopeLabels = { ...unaryLabels, upstream: 'nope' };
    expect(pa.value('meshlet_grpc_started_total', nopeLabels)).toBe(1);
    expect(pa.value('meshlet_grpc_handled_total', { ...nopeLabels, grpc_code: 'Unavailable' })).toBe(1);
    expect(pa.sum('meshlet_grpc_started_total')).toBe(7);
    expect(pa.sum('meshlet_grpc_handled_total')).toBe(7);
    // Attempts: every call that reached an endpoint, none for the unknown backend.
    expect(pa.value('meshlet_upstream_attempts_total', { upstream: 'echo', grpc_code: 'OK' })).toBe(5);
    expect(pa.value('meshlet_upstream_attempts_total', { upstream: 'echo', grpc_code: 'NotFound' })).toBe(1);
    expect(pa.sum('meshlet_upstream_attempts_total', { upstream: 'nope' })).toBe(0);
    expect(pa.value('meshlet_upstream_endpoints', { upstream: 'echo', state: 'ready' })).toBe(1);
    expect(pa.value('meshlet_upstream_endpoints', { upstream: 'echo', state: 'not_ready' })).toBe(0);
    expect(pa.value('meshlet_connections_total', { direction: 'outbound' })).toBe(2); // one per client channel
    expect(pa.value('meshlet_connections_open', { direction: 'outbound' })).toBe(2);
    expect(pa.value('meshlet_upstream_sessions', { direction: 'outbound' })).toBe(1);
    expect(pa.value('meshlet_calls_in_flight', { direction: 'outbound' })).toBe(0);
    expect(pa.value('meshlet_config_reloads_total', { result: 'rejected' })).toBe(0);
    expect(pa.families.get('meshlet_process_cpu_seconds_total')?.type).toBe('counter');
    expect(pa.value('meshlet_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(pa.families.has('meshlet_nodejs_eventloop_lag_p99_seconds')).toBe(true);

    const pb = await scrape(b.admin);
    const inLabels = { ...unaryLabels, direction: 'inbound' };
    expect(pb.value('meshlet_grpc_started_total', inLabels)).toBe(4);
    expect(pb.value('meshlet_grpc_handled_total', { ...inLabels, grpc_code: 'OK' })).toBe(3);
    expect(pb.value('meshlet_grpc_handled_total', { ...inLabels, grpc_code: 'NotFound' })).toBe(1);
    expect(pb.sum('meshlet_grpc_started_total', { upstream: 'nope' })).toBe(0);
    // B does not parse unknown-type methods (the default): no message series for Bidi rather than zeros.
    expect(pb.select('meshlet_grpc_msg_received_total', { grpc_method: 'Bidi' })).toEqual([]);
    expect(pb.value('meshlet_grpc_started_total', { ...inLabels, grpc_type: 'unknown', grpc_method: 'Bidi' })).toBe(1);
    const healthLabels = { direction: 'inbound', upstream: 'echo', grpc_type: 'unary', grpc_service: 'grpc.health.v1.Health', grpc_method: 'Check' };
    expect(pb.value('meshlet_grpc_handled_total', { ...healthLabels, grpc_code: 'OK' })).toBe(1);
    expect(pb.value('meshlet_grpc_msg_received_total', healthLabels)).toBe(1);
    expect(pb.value('meshlet_grpc_msg_sent_total', healthLabels)).toBe(1);
    expect(pb.value('meshlet_health_serving')).toBe(1);
    expect(pb.value('meshlet_health_app_checks_total', { result: 'serving' })).toBe(1);
    expect(pb.sum('meshlet_grpc_started_total')).toBe(7); // 6 forwarded + 1 health check
    expect(echo.calls).toHaveLength(6); // the app saw neither the health check nor the call to the unknown backend
  });

  it('collapses unknown methods into one "other" series so callers cannot grow /metrics', async () => {
    const raw = http2.createServer();
    raw.on('stream', (s) => s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true }));
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    defer(() => new Promise((resolve) => raw.close(resolve)));
    const rawAddress = `127.0.0.1:${(raw.address() as { port: number }).port}`;
    const b = await sidecar({ service: { name: 'svc' }, inbound: { listen: '127.0.0.1:0', app: rawAddress }, metrics: { maxMethods: 3 }, health: { appCheck: 'none' } });
    const session = http2.connect(`http://${b.inbound}`);
    defer(() => session.close());
    const call = (p: string) =>
      new Promise<void>((resolve) => {
        const st = session.request({ ':method': 'POST', ':path': p, 'content-type': 'application/grpc', te: 'trailers' });
        st.on('error', () => {});
        st.on('close', () => resolve());
        st.resume();
        st.end();
      });
    for (let i = 0; i < 50; i++) await call(`/junk.Svc${i}/M${i}`);
    await call('/no-method-part');
    const p = await scrape(b.admin);
    expect(p.select('meshlet_grpc_started_total')).toHaveLength(4); // 3 admitted + other
    expect(p.value('meshlet_grpc_started_total', { direction: 'inbound', upstream: 'svc', grpc_type: 'unknown', grpc_service: 'other', grpc_method: 'other' })).toBe(48);
    expect(p.sum('meshlet_grpc_handled_total', { grpc_code: 'Unimplemented' })).toBe(51);
  });

  it('has no per-call layers when metrics are disabled, but still serves mesh-state metrics', async () => {
    const echo = await startEcho();
    defer(() => echo.close());
    const b = await sidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: echo.address }, metrics: { enabled: false } });
    expect((await unary(client(b.inbound as string), Buffer.from('x'))).err).toBeNull();
    const p = await scrape(b.admin);
    expect(p.select('meshlet_grpc_started_total')).toHaveLength(0);
    expect(p.value('meshlet_connections_total', { direction: 'inbound' })).toBe(1);
  });
});

describe('resilience metrics (issue 4 hooks)', () => {
  it('counts retries, an ejection, attempts by result and a rejected policy reload', async () => {
    const good = await startEcho();
    defer(() => good.close());
    // An endpoint that answers every call with UNAVAILABLE (Trailers-Only), counting what it saw.
    let badCalls = 0;
    const bad = http2.createServer();
    bad.on('stream', (s) => {
      badCalls++;
      s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'down' }, { endStream: true });
    });
    await new Promise<void>((resolve) => bad.listen(0, '127.0.0.1', resolve));
    defer(() => new Promise((resolve) => bad.close(resolve)));
    const badAddress = `127.0.0.1:${(bad.address() as { port: number }).port}`;

    const dir = await mkdtemp(path.join(tmpdir(), 'meshlet-obs-'));
    defer(() => rm(dir, { recursive: true, force: true }));
    const policyFile = path.join(dir, 'policy.yaml');
    const policy = [
      'backends:',
      '  flaky:',
      '    retry: { retryOn: [unavailable], maxRetries: 2, backoff: { baseMs: 1, maxMs: 1 } }',
      '    retryBudget: { minRetriesPerSecond: 1000 }',
      '    outlierDetection: { mode: enforce, consecutiveFailures: 2, baseEjectionMs: 600000, maxEjectionMs: 600000, maxEjectedPercent: 50 }',
      '',
    ].join('\n');
    await writeFile(policyFile, policy);
    const a = await sidecar({
      service: { name: 'caller' },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: { flaky: { endpoints: [good.address, badAddress], balancing: { policy: 'round_robin' } } },
      policy: { file: policyFile, reloadDebounceMs: 0 },
    });
    const c = client(a.outbound as string, 'flaky');
    for (let i = 0; i < 20; i++) expect((await unary(c, Buffer.from('x'))).err, `call ${i}`).toBeNull();

    let p = await scrape(a.admin);
    expect(badCalls).toBe(2); // ejected after 2 consecutive failures
    const labels = { direction: 'outbound', upstream: 'flaky', grpc_type: 'unknown', grpc_service: 'test.Echo', grpc_method: 'Unary' };
    expect(p.value('meshlet_grpc_handled_total', { ...labels, grpc_code: 'OK' })).toBe(20);
    expect(p.value('meshlet_upstream_attempts_total', { upstream: 'flaky', grpc_code: 'OK' })).toBe(20);
    expect(p.value('meshlet_upstream_attempts_total', { upstream: 'flaky', grpc_code: 'Unavailable' })).toBe(2);
    expect(p.sum('meshlet_retries_total', { upstream: 'flaky' })).toBe(2);
    expect(p.value('meshlet_outlier_ejections_total', { upstream: 'flaky' })).toBe(1);
    expect(p.value('meshlet_upstream_endpoints', { upstream: 'flaky', state: 'not_ready' })).toBe(1);
    // /clusters shows the same: the ejected endpoint, and the backend's breaker and limits.
    type Clusters = { upstreams: Array<{ name: string; breaker?: string; endpoints: Array<{ address: string; ready: boolean; outlier?: string }> }> };
    const clusters = (await (await fetch(`http://${a.admin}/clusters`)).json()) as Clusters;
    const flaky = clusters.upstreams.find((u) => u.name === 'flaky');
    expect(flaky?.breaker).toBe('closed');
    expect(flaky?.endpoints.find((e) => e.address === badAddress)).toMatchObject({ ready: false, outlier: 'ejected' });
    expect(flaky?.endpoints.find((e) => e.address === good.address)).toMatchObject({ ready: true });
    expect(p.value('meshlet_config_reloads_total', { result: 'rejected' })).toBe(0);

    await writeFile(policyFile, 'backends:\n  flaky:\n    retry: { maxRetries: many }\n');
    let rejected = 0;
    const deadline = performance.now() + 5000;
    while (rejected === 0 && performance.now() < deadline) {
      p = await scrape(a.admin);
      rejected = p.value('meshlet_config_reloads_total', { result: 'rejected' }) ?? 0;
      if (rejected === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(rejected).toBe(1);
    expect(p.value('meshlet_config_reloads_total', { result: 'accepted' })).toBe(0);
  });
});
