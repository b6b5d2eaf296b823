// SPDX-License-Identifier: Apache-2.0
// The inbound chain with authz, driven through the real layer list with calls whose peer carries a SPIFFE ID (as
// mTLS will set it): rescue → access-log → metrics → deadline → health → authz → timeout → local-app. Observed over a stub
// terminal: health is answered above authz (probes are never subject to it), deadline rejects before authz decides,
// metrics and access-log see authz's rejection as the final status, and a denied call never reaches local-app.
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { HealthService } from '../../../src/health/service.js';
import type { SessionPool } from '../../../src/h2/session-pool.js';
import { PolicyStore } from '../../../src/policy/store.js';
import { ProxyCall } from '../../../src/proxy/call.js';
import { inboundLayers } from '../../../src/proxy/inbound.js';
import { compose, type Handler } from '../../../src/proxy/layer.js';
import { RequestBody } from '../../../src/proxy/request-body.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { createMetrics } from '../../../src/telemetry/metrics.js';
import { policy, trailersOnly } from './layers/resilience-harness.js';
import type { ProxyReply } from '../../../src/proxy/call.js';

const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';
const DENY_ALL_BUT_FRONTEND = `
authz:
  defaultAction: deny
  rules:
    - name: no-drop
      action: deny
      methods: ["a.S/Drop"]
    - name: frontend
      action: allow
      identities: ["spiffe://cluster.local/ns/*/sa/frontend"]
`;

const health: HealthService = {
  knows: () => true,
  check: async () => 'SERVING',
  current: () => 'SERVING',
  reason: () => undefined,
  watch: () => () => {},
  refresh: () => {},
  shutdown: () => {},
};

function call(path: string, identity: string | undefined, headers: Record<string, string> = {}): ProxyCall {
  return new ProxyCall('inbound', { ':path': path, ':authority': 'svc', ...headers }, new RequestBody(new PassThrough()), { address: '127.0.0.1', port: 1, identity }, performance.now());
}

function chain() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    }),
  });
  const metrics = createMetrics({ serviceName: 'svc', upstreamOf: (a) => a });
  const store = new PolicyStore(policy(DENY_ALL_BUT_FRONTEND));
  const reached: ProxyCall[] = [];
  const terminal: Handler = (c) => {
    reached.push(c);
    return Promise.resolve(trailersOnly(0));
  };
  const layers = inboundLayers({
    service: 'svc',
    appAddress: '127.0.0.1:1',
    pool: undefined as unknown as SessionPool,
    log,
    accessLog: true,
    metrics: metrics.calls.inbound,
    health,
    authz: { policy: store, decisions: metrics.authz.decisions },
  });
  const decisions = async (): Promise<number> => (await metrics.authz.decisions.get()).values.reduce((n, v) => n + v.value, 0);
  return { handler: compose(layers, terminal), lines, metrics, reached, decisions };
}

describe('inbound chain order with authz', () => {
  it('forwards a caller whose identity an allow rule names, and access-logs the decision', async () => {
    const t = chain();
    const c = call('/a.S/Get', 'spiffe://cluster.local/ns/web/sa/frontend');
    const reply = await t.handler(c);
    expect(reply.end?.status).toBe(0);
    expect(t.reached).toEqual([c]);
    expect(c.backend).toBe('svc'); // local-app ran
    expect(t.lines.find((l) => l['access'] === true)?.['authz']).toEqual({ decision: 'allow', rule: 'frontend', mode: 'enforce' });
  });

  it('authz is below rescue, access-log and metrics, and above local-app: a denial is a counted, logged status', async () => {
    const t = chain();
    const denied = call('/a.S/Drop', FRONTEND);
    const reply = await t.handler(denied);
    expect(reply.headers['grpc-status']).toBe('7');
    expect(reply.headers['x-meshlet-error']).toBe('ERR_AUTHZ_DENIED');
    expect(t.reached).toEqual([]);
    expect(denied.backend).toBeUndefined(); // local-app never ran
    expect(t.metrics.calls.inbound.series(denied).handled[7]).toBe(1);
    expect(t.lines.find((l) => l['access'] === true)).toMatchObject({ grpc_status: 7, error_code: 'ERR_AUTHZ_DENIED', authz: { decision: 'deny', rule: 'no-drop' } });

    const anonymous = call('/a.S/Get', undefined);
    const unauth = await t.handler(anonymous);
    expect([unauth.headers['grpc-status'], unauth.headers['x-meshlet-error']]).toEqual(['16', 'ERR_AUTHZ_UNAUTHENTICATED']);
    expect(t.metrics.calls.inbound.series(anonymous).handled[16]).toBe(1);
  });

  it('health is above authz: a probe without identity is answered under a deny-by-default policy', async () => {
    const t = chain();
    const probe = call('/grpc.health.v1.Health/Check', undefined);
    const answered = t.handler(probe);
    (probe.body as unknown as { source: PassThrough }).source.end(Buffer.from([0, 0, 0, 0, 0]));
    const reply = await answered;
    expect(reply.trailers).toEqual({ 'grpc-status': '0' });
    reply.body?.resume();
    expect(await t.decisions()).toBe(0);
    expect(t.reached).toEqual([]);
  });

  it('deadline is above authz: a malformed grpc-timeout is rejected before any authz decision', async () => {
    const t = chain();
    const reply = await t.handler(call('/a.S/Get', FRONTEND, { 'grpc-timeout': 'soon' }));
    expect(reply.headers['x-meshlet-error']).toBe('ERR_BAD_REQUEST');
    expect(await t.decisions()).toBe(0);
  });
});

describe('inbound chain order with the call guards (issue 14)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function guarded() {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] });
    const log = createLogger({ level: 'silent' });
    const store = new PolicyStore(policy('backends:\n  svc: { unaryTimeoutMs: 100, idleTimeoutMs: 100 }\n'));
    const reached: ProxyCall[] = [];
    // The app accepts every call and never answers; a cancelled call is rejected with its reason.
    const terminal: Handler = (c) => {
      reached.push(c);
      return new Promise<ProxyReply>((_resolve, reject) => c.onCancel(reject));
    };
    const layers = inboundLayers({ service: 'svc', appAddress: '127.0.0.1:1', pool: undefined as unknown as SessionPool, log, accessLog: false, health, policy: store });
    return { handler: compose(layers, terminal), reached };
  }

  it("guards calls to the app with the policy of the sidecar's own service, as a Trailers-Only status", async () => {
    const t = guarded();
    const pending = t.handler(call('/a.S/Get', FRONTEND));
    vi.advanceTimersByTime(100);
    const reply = await pending;
    expect(t.reached).toHaveLength(1);
    expect([reply.headers['grpc-status'], reply.headers['x-meshlet-error']]).toEqual(['4', 'ERR_UNARY_TIMEOUT']);
  });

  it("is below health: the sidecar's own Health/Watch stream is never cut as idle", async () => {
    const t = guarded();
    const watch = call('/grpc.health.v1.Health/Watch', undefined);
    const answered = t.handler(watch);
    (watch.body as unknown as { source: PassThrough }).source.end(Buffer.from([0, 0, 0, 0, 0]));
    const reply = await answered;
    reply.body?.resume();
    vi.advanceTimersByTime(10_000);
    expect(watch.cancelled).toBeUndefined();
    expect(reply.end).toBeUndefined(); // still streaming
    expect(t.reached).toEqual([]);
  });
});
