// SPDX-License-Identifier: Apache-2.0
// The rate-limit layer in the real inbound chain (rescue → access-log → metrics → deadline → health → authz →
// rate-limit → local-app) over a stub terminal, on a manual clock: a rejection is RESOURCE_EXHAUSTED with
// x-meshlet-error, grpc-retry-pushback-ms and retry-after, counted, access-logged, and never reaches the app; a
// denied call spends no token (authz is above); shadow counts and lets through; a reload applies to the next call.
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { SessionPool } from '../../../../src/h2/session-pool.js';
import { PolicyStore } from '../../../../src/policy/store.js';
import { ProxyCall } from '../../../../src/proxy/call.js';
import { inboundLayers } from '../../../../src/proxy/inbound.js';
import { compose, type Handler } from '../../../../src/proxy/layer.js';
import { RequestBody } from '../../../../src/proxy/request-body.js';
import { createRateLimiter } from '../../../../src/ratelimit/limiter.js';
import { createLogger } from '../../../../src/telemetry/logger.js';
import { createMetrics } from '../../../../src/telemetry/metrics.js';
import { policy, trailersOnly } from './resilience-harness.js';

const ALICE = 'spiffe://cluster.local/ns/shop/sa/alice';
const BOB = 'spiffe://cluster.local/ns/shop/sa/bob';

function call(path: string, identity: string | undefined): ProxyCall {
  return new ProxyCall('inbound', { ':path': path, ':authority': 'svc' }, new RequestBody(new PassThrough()), { address: '127.0.0.1', port: 1, identity }, performance.now());
}

function chain(yaml: string) {
  let t = 0;
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
  const store = new PolicyStore(policy(yaml));
  const reached: ProxyCall[] = [];
  const terminal: Handler = (c) => {
    reached.push(c);
    return Promise.resolve(trailersOnly(0));
  };
  const limiter = createRateLimiter({ now: () => t });
  const layers = inboundLayers({
    service: 'svc',
    appAddress: '127.0.0.1:1',
    pool: undefined as unknown as SessionPool,
    log,
    accessLog: true,
    metrics: metrics.calls.inbound,
    authz: { policy: store, decisions: metrics.authz.decisions },
    rateLimit: { policy: store, limiter, metrics: metrics.ratelimit },
  });
  const count = async (decision: string): Promise<number> =>
    (await metrics.ratelimit.decisions.get()).values.filter((v) => v.labels['decision'] === decision).reduce((n, v) => n + v.value, 0);
  return { handler: compose(layers, terminal), lines, metrics, reached, count, store, advance: (ms: number) => void (t += ms) };
}

const PER_CALLER = `
authz:
  rules:
    - name: no-drop
      action: deny
      methods: ["a.S/Drop"]
rateLimits:
  - name: per-caller
    rate: 10/s
    burst: 2
    by: [caller]
`;

describe('rate-limit layer (inbound)', () => {
  it('rejects with RESOURCE_EXHAUSTED, a pushback hint and a counted, access-logged status once the bucket is empty', async () => {
    const t = chain(PER_CALLER);
    for (let i = 0; i < 2; i++) expect((await t.handler(call('/a.S/Get', ALICE))).end?.status).toBe(0);
    const over = call('/a.S/Get', ALICE);
    const reply = await t.handler(over);
    expect(reply.headers['grpc-status']).toBe('8');
    expect(reply.headers['x-meshlet-error']).toBe('ERR_RATELIMIT_EXCEEDED');
    expect(reply.headers['grpc-retry-pushback-ms']).toBe('100');
    expect(reply.headers['retry-after']).toBe('1');
    expect(t.reached).toHaveLength(2);
    expect(t.metrics.calls.inbound.series(over).handled[8]).toBe(1);
    expect(await t.count('admitted')).toBe(2);
    expect(await t.count('rejected')).toBe(1);
    expect(t.lines.filter((l) => l['access'] === true).at(-1)).toMatchObject({
      grpc_status: 8,
      error_code: 'ERR_RATELIMIT_EXCEEDED',
      rate_limit: { decision: 'rejected', limit: 'per-caller', source: 'local' },
    });
    expect(t.lines.some((l) => l['msg'] === 'rate limit: per-caller rejects (over 10/s burst 2)')).toBe(true);
    // Another caller has its own bucket; the first one refills after 1/rate.
    expect((await t.handler(call('/a.S/Get', BOB))).end?.status).toBe(0);
    t.advance(100);
    expect((await t.handler(call('/a.S/Get', ALICE))).end?.status).toBe(0);
  });

  it('is below authz: a denied call spends no token', async () => {
    const t = chain(PER_CALLER);
    for (let i = 0; i < 5; i++) expect((await t.handler(call('/a.S/Drop', ALICE))).headers['x-meshlet-error']).toBe('ERR_AUTHZ_DENIED');
    expect(await t.count('admitted')).toBe(0);
    expect((await t.handler(call('/a.S/Get', ALICE))).end?.status).toBe(0);
  });

  it('shadow: counts shadow_rejected and lets the call through', async () => {
    const t = chain('rateLimits:\n  - name: s\n    rate: 1/s\n    burst: 1\n    mode: shadow\n');
    for (let i = 0; i < 3; i++) expect((await t.handler(call('/a.S/Get', ALICE))).end?.status).toBe(0);
    expect(t.reached).toHaveLength(3);
    expect(await t.count('shadow_rejected')).toBe(2);
    expect(await t.count('rejected')).toBe(0);
    expect(t.lines.filter((l) => l['access'] === true).at(-1)?.['rate_limit']).toEqual({ decision: 'shadow_rejected', limit: 's', source: 'local' });
  });

  it('a reload applies to the next call: a raised limit admits at once, a removed one stops counting', async () => {
    const t = chain('rateLimits:\n  - name: a\n    rate: 1/s\n    burst: 1\n');
    expect((await t.handler(call('/a.S/Get', ALICE))).end?.status).toBe(0);
    expect((await t.handler(call('/a.S/Get', ALICE))).headers['grpc-status']).toBe('8');
    t.store.swap(policy('rateLimits:\n  - name: a\n    rate: 100/s\n    burst: 5\n'));
    for (let i = 0; i < 5; i++) expect((await t.handler(call('/a.S/Get', ALICE))).end?.status).toBe(0);
    t.store.swap(policy('routes: []\n'));
    for (let i = 0; i < 10; i++) expect((await t.handler(call('/a.S/Get', ALICE))).end?.status).toBe(0);
  });

  it('limits only the methods its match names', async () => {
    const t = chain('rateLimits:\n  - name: a\n    match: { method: "a.S/Put" }\n    rate: 1/s\n    burst: 1\n');
    for (let i = 0; i < 3; i++) expect((await t.handler(call('/a.S/Get', ALICE))).end?.status).toBe(0);
    expect(await t.count('admitted')).toBe(0);
  });
});
