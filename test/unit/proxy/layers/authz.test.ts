// SPDX-License-Identifier: Apache-2.0
// The authz layer over a stub terminal: enforce answers PERMISSION_DENIED / UNAUTHENTICATED before the app and
// counts the decision; shadow lets the call through and counts what would have happened; off and no section do
// nothing; a policy swap applies to the next call; denial logs are throttled per rule.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { authzKey } from '../../../../src/authz/evaluate.js';
import { ProxyError } from '../../../../src/errors.js';
import { PolicyStore } from '../../../../src/policy/store.js';
import { ProxyCall } from '../../../../src/proxy/call.js';
import { compose, type Handler } from '../../../../src/proxy/layer.js';
import { authzLayer } from '../../../../src/proxy/layers/authz.js';
import type { RequestBody } from '../../../../src/proxy/request-body.js';
import { createLogger } from '../../../../src/telemetry/logger.js';
import { createMetrics } from '../../../../src/telemetry/metrics.js';
import { policy, trailersOnly } from './resilience-harness.js';

const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';
const POLICY = `
authz:
  defaultAction: deny
  rules:
    - name: no-drop
      action: deny
      methods: ["a.B/Drop"]
    - name: frontend
      action: allow
      identities: ["spiffe://cluster.local/ns/*/sa/frontend"]
`;

function inbound(path: string, identity: string | undefined): ProxyCall {
  return new ProxyCall('inbound', { ':path': path, ':authority': 'svc' }, { bytes: 0 } as unknown as RequestBody, { address: '127.0.0.1', port: 1, identity }, performance.now());
}

function setup(yaml: string) {
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
  let clock = 0;
  let reached = 0;
  const terminal: Handler = () => {
    reached++;
    return Promise.resolve(trailersOnly(0));
  };
  const handler = compose([authzLayer({ policy: store, decisions: metrics.authz.decisions, log, now: () => clock })], terminal);
  const count = async (labels: Record<string, string>): Promise<number> => {
    const values = (await metrics.authz.decisions.get()).values;
    return values.filter((v) => Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want)).reduce((n, v) => n + v.value, 0);
  };
  return { handler, store, lines, count, reached: () => reached, tick: (ms: number) => (clock += ms) };
}

async function rejection(p: Promise<unknown>): Promise<ProxyError> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as ProxyError,
  );
}

describe('authz layer', () => {
  it('allows a matching identity and counts the allow by rule', async () => {
    const t = setup(POLICY);
    const call = inbound('/a.B/Get', FRONTEND);
    await t.handler(call);
    expect(t.reached()).toBe(1);
    expect(call.get(authzKey)).toMatchObject({ decision: 'allow', rule: 'frontend' });
    expect(await t.count({ grpc_service: 'a.B', grpc_method: 'Get', decision: 'allow', rule: 'frontend', mode: 'enforce' })).toBe(1);
  });

  it('rejects with PERMISSION_DENIED (ERR_AUTHZ_DENIED) on a deny rule, before the app, and logs the rule', async () => {
    const t = setup(POLICY);
    const e = await rejection(t.handler(inbound('/a.B/Drop', FRONTEND)));
    expect([e.code, e.grpcStatus]).toEqual(['ERR_AUTHZ_DENIED', 7]);
    expect(t.reached()).toBe(0);
    expect(await t.count({ decision: 'deny', rule: 'no-drop', mode: 'enforce' })).toBe(1);
    expect(t.lines).toHaveLength(1);
    expect(t.lines[0]).toMatchObject({ msg: 'authz: call denied by no-drop', rule: 'no-drop', source: 'authz.rules[0] (no-drop)', grpc_method: 'Drop', peer_identity: FRONTEND });
  });

  it('rejects a caller without identity with UNAUTHENTICATED when only identities could allow', async () => {
    const t = setup(POLICY);
    const e = await rejection(t.handler(inbound('/a.B/Get', undefined)));
    expect([e.code, e.grpcStatus]).toEqual(['ERR_AUTHZ_UNAUTHENTICATED', 16]);
    expect(await t.count({ decision: 'deny', rule: 'defaultAction' })).toBe(1);
  });

  it('shadow: lets denied calls through, counts them as shadow denials and logs what would have happened', async () => {
    const t = setup(POLICY.replace('authz:\n', 'authz:\n  mode: shadow\n'));
    const call = inbound('/a.B/Drop', FRONTEND);
    const reply = await t.handler(call);
    expect(reply.end?.status).toBe(0);
    expect(t.reached()).toBe(1);
    expect(await t.count({ decision: 'deny', rule: 'no-drop', mode: 'shadow' })).toBe(1);
    expect(await t.count({ mode: 'enforce' })).toBe(0);
    expect(call.get(authzKey)).toMatchObject({ decision: 'deny', mode: 'shadow' });
    expect(String(t.lines[0]?.['msg'])).toMatch(/^authz shadow: call denied by no-drop \(call let through\)/);
  });

  it('off and no section: no decision, no count', async () => {
    for (const yaml of ['authz:\n  mode: off\n  defaultAction: deny\n', 'routes: []\n']) {
      const t = setup(yaml);
      const call = inbound('/a.B/Drop', undefined);
      await t.handler(call);
      expect(t.reached()).toBe(1);
      expect(call.get(authzKey)).toBeUndefined();
      expect(await t.count({})).toBe(0);
    }
  });

  it('a policy swap applies to the next call', async () => {
    const t = setup('routes: []\n');
    await t.handler(inbound('/a.B/Drop', FRONTEND));
    t.store.swap(policy(POLICY));
    expect((await rejection(t.handler(inbound('/a.B/Drop', FRONTEND)))).code).toBe('ERR_AUTHZ_DENIED');
    t.store.swap(policy('authz:\n  mode: shadow\n  defaultAction: deny\n'));
    await t.handler(inbound('/a.B/Drop', FRONTEND));
    expect(t.reached()).toBe(2);
  });

  it('logs one denial line per rule every 10 s, with how many were folded into it', async () => {
    const t = setup(POLICY);
    for (let i = 0; i < 5; i++) await rejection(t.handler(inbound('/a.B/Drop', FRONTEND)));
    expect(t.lines).toHaveLength(1);
    t.tick(10_000);
    await rejection(t.handler(inbound('/a.B/Drop', FRONTEND)));
    expect(t.lines.map((l) => l['folded'])).toEqual([0, 4]);
    expect(await t.count({ rule: 'no-drop' })).toBe(6);
  });

  it('bounds the method labels: malformed paths count under `other`', async () => {
    const t = setup(POLICY);
    await t.handler(inbound('/not a path', FRONTEND));
    expect(await t.count({ grpc_service: 'other', grpc_method: 'other', rule: 'frontend' })).toBe(1);
  });
});
