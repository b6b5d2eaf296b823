// SPDX-License-Identifier: Apache-2.0
// The demo's sidecar configs: valid against meshlet's bootstrap schema, wired to the demo's port table
// (order-service's sidecar reaches user-service's sidecar inbound; each inbound forwards to its own app), and
// giving the metrics each method's grpc_type.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import {
  CA_DIR_PATH,
  DEMO_TRUST_DOMAIN,
  demoConfigs,
  demoMode,
  withCaDir,
  writeEffectiveConfigs,
  type DemoMode,
} from '../../../../examples/demo/configs.js';
import { DEMO_HOST, DEMO_PORTS } from '../../../../examples/demo/ports.js';
import { projectRoot } from '../../../../examples/services/shared/project-root.js';
import { bootstrapSchema, observabilityConfig, type BootstrapConfig } from '../../../../src/config/schema.js';
import { authzOf } from '../../../../src/authz/evaluate.js';
import { parsePolicy } from '../../../../src/policy/load.js';
import { loadMethodTypes } from '../../../../src/telemetry/method-types.js';
import type { MethodTypes } from '../../../../src/telemetry/metrics.js';

const load = (file: string): BootstrapConfig => {
  const result = bootstrapSchema.safeParse(parse(readFileSync(file, 'utf8')));
  if (!result.success) throw new Error(`${file}: ${JSON.stringify(result.error.issues)}`);
  return result.data;
};
const at = (port: number) => `${DEMO_HOST}:${port}`;

/**
 * The grpc_type table a sidecar builds from `config` (as src/app/telemetry.ts does), run where the demo runs its
 * sidecars: relative protoFiles paths resolve against the repository root (demoPlan's `cwd`).
 */
const methodTypesOf = (config: BootstrapConfig): MethodTypes => {
  const { methodTypes, protoFiles } = observabilityConfig(config).metrics;
  return loadMethodTypes(methodTypes, protoFiles.map((f) => resolve(projectRoot(), f)));
};

describe('demo configs', () => {
  it('chooses the Consul variant only when CONSUL_HTTP_ADDR is set and non-empty', () => {
    expect(demoMode({})).toBe('static');
    expect(demoMode({ CONSUL_HTTP_ADDR: '' })).toBe('static');
    expect(demoMode({ CONSUL_HTTP_ADDR: 'http://127.0.0.1:8500' })).toBe('consul');
  });

  describe.each<DemoMode>(['static', 'consul'])('%s variant', (mode) => {
    const configs = demoConfigs(mode);
    const user = load(configs.userSidecar);
    const order = load(configs.orderSidecar);

    it('names each sidecar after its service and points inbound at that app', () => {
      expect(user.service.name).toBe('user-service');
      expect(user.inbound).toEqual({ listen: at(DEMO_PORTS.userInbound), app: at(DEMO_PORTS.userApp) });
      expect(order.service.name).toBe('order-service');
      expect(order.inbound).toEqual({ listen: at(DEMO_PORTS.orderInbound), app: at(DEMO_PORTS.orderApp) });
    });

    it("gives order-service an outbound listener with a user-service backend, and admin on the table's ports", () => {
      expect(order.outbound?.listen).toBe(at(DEMO_PORTS.orderOutbound));
      expect(Object.keys(order.upstreams)).toEqual(['user-service']);
      expect(user.admin.listen).toBe(at(DEMO_PORTS.userAdmin));
      expect(order.admin.listen).toBe(at(DEMO_PORTS.orderAdmin));
    });

    it('gives the metrics UserService\'s method types on both sidecars, and OrderService\'s on its own (regression: issue 11, grpc_type="unknown")', () => {
      for (const c of [user, order]) {
        const types = methodTypesOf(c);
        expect(types.typeOf('user.v1.UserService', 'GetUser')).toBe('unary');
        expect(types.typeOf('user.v1.UserService', 'ListUsers')).toBe('server_stream');
        expect(c.metrics?.protoFiles.every((f) => !isAbsolute(f))).toBe(true);
      }
      const orderTypes = methodTypesOf(order);
      expect(orderTypes.typeOf('order.v1.OrderService', 'GetOrder')).toBe('unary');
      expect(orderTypes.typeOf('order.v1.OrderService', 'ListOrders')).toBe('server_stream');
    });

    it('keeps every listener on loopback', () => {
      for (const c of [user, order]) {
        for (const listen of [c.inbound?.listen, c.outbound?.listen, c.admin.listen]) {
          if (listen !== undefined) expect(listen.startsWith(`${DEMO_HOST}:`)).toBe(true);
        }
      }
    });
  });

  it("static variant: order-service's sidecar sends user-service calls to user-service's sidecar inbound", () => {
    const order = load(demoConfigs('static').orderSidecar);
    expect(order.upstreams['user-service']?.endpoints).toEqual([at(DEMO_PORTS.userInbound)]);
    expect(order.consul).toBeUndefined();
  });

  it('consul variant: both sidecars register at 127.0.0.1 and user-service is discovered, not listed', () => {
    const { userSidecar, orderSidecar } = demoConfigs('consul');
    const user = load(userSidecar);
    const order = load(orderSidecar);
    expect(order.upstreams['user-service']?.endpoints).toBeUndefined();
    for (const c of [user, order]) {
      expect(c.consul?.register).toBe(true);
      expect(c.service.address).toBe(DEMO_HOST);
    }
  });

  describe.each<DemoMode>(['static', 'consul'])('%s variant, mTLS and authz', (mode) => {
    const user = load(demoConfigs(mode).userSidecar);
    const order = load(demoConfigs(mode).orderSidecar);

    it('issues both leaves from the built-in CA in the demo trust domain: user strict, order permissive with mTLS out', () => {
      for (const c of [user, order]) {
        expect(c.mtls?.trustDomain).toBe(DEMO_TRUST_DOMAIN);
        expect(c.mtls?.source.ca?.dir).toBeDefined();
        expect(c.mtls?.identity).toBeUndefined(); // the default: spiffe://demo.meshlet/svc/<service.name>
      }
      expect(user.mtls?.inbound.mode).toBe('strict');
      expect(order.mtls?.inbound.mode).toBe('permissive'); // the demo caller is outside the mesh: plaintext
      expect(order.mtls?.outbound.mode).toBe('mtls');
    });

    it("gives user-service's sidecar a policy that allows order-service's reads and denies it payment cards", () => {
      const file = user.policy?.file;
      expect(file).toBeDefined();
      const result = parsePolicy(file!, readFileSync(resolve(projectRoot(), file!), 'utf8'));
      if (!result.ok) throw new Error(JSON.stringify(result.errors));
      const authz = authzOf(result.config);
      const orderId = `spiffe://${DEMO_TRUST_DOMAIN}/svc/order-service`;
      const decide = (method: string, identity: string | undefined) =>
        authz?.evaluate(`/user.v1.UserService/${method}`, 'user.v1.UserService', identity, {});
      expect(decide('GetUser', orderId)?.outcome).toBe('ok');
      expect(decide('ListUsers', orderId)?.outcome).toBe('ok');
      expect(decide('GetPaymentCard', orderId)).toMatchObject({ outcome: 'permission-denied', rule: 'payment-cards-not-for-orders' });
      expect(decide('GetUser', `spiffe://${DEMO_TRUST_DOMAIN}/svc/someone-else`)?.outcome).toBe('permission-denied');
      expect(order.policy).toBeUndefined(); // order-service's sidecar lets every caller in, the demo's included
    });
  });

  it("consul variant: user-service's strict sidecar has the plaintext health port Consul's check dials", () => {
    expect(load(demoConfigs('consul').userSidecar).mtls?.inbound.healthListen).toBe(at(DEMO_PORTS.userHealth));
  });

  describe('effective configs', () => {
    it('sets only mtls.source.ca.dir, keeping every other value and the comments', () => {
      for (const mode of ['static', 'consul'] as const) {
        for (const file of [demoConfigs(mode).userSidecar, demoConfigs(mode).orderSidecar]) {
          const text = readFileSync(file, 'utf8');
          const out = withCaDir(text, '/tmp/meshlet-demo-x/ca');
          const expected = parse(text) as Record<string, unknown>;
          let at: Record<string, unknown> = expected;
          for (const key of CA_DIR_PATH.slice(0, -1)) at = at[key] as Record<string, unknown>;
          expect(at.dir).not.toBe('/tmp/meshlet-demo-x/ca');
          at.dir = '/tmp/meshlet-demo-x/ca';
          expect(parse(out)).toEqual(expected);
          expect(out).toContain('# SPDX-License-Identifier: Apache-2.0');
          expect(bootstrapSchema.safeParse(parse(out)).success).toBe(true);
        }
      }
    });

    it('refuses a config without an mtls.source.ca section', () => {
      expect(() => withCaDir('service: { name: x }\n', '/ca')).toThrow('no mtls.source.ca section');
    });

    it('writes both effective configs into the given directory under their own names', () => {
      const dir = mkdtempSync(join(tmpdir(), 'demo-configs-test-'));
      try {
        const configs = demoConfigs('static');
        const written = writeEffectiveConfigs(configs, '/somewhere/ca', join(dir, 'config'));
        expect(written.mode).toBe('static');
        for (const [source, target] of [[configs.userSidecar, written.userSidecar], [configs.orderSidecar, written.orderSidecar]] as const) {
          expect(dirname(target)).toBe(join(dir, 'config'));
          expect(basename(target)).toBe(basename(source));
          expect(load(target).mtls?.source.ca?.dir).toBe('/somewhere/ca');
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('uses each demo port exactly once', () => {
    const ports = Object.values(DEMO_PORTS);
    expect(new Set(ports).size).toBe(ports.length);
  });
});
