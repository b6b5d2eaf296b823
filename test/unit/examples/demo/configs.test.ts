// SPDX-License-Identifier: Apache-2.0
// The demo's sidecar configs: valid against meshlet's bootstrap schema, wired to the demo's port table
// (order-service's sidecar reaches user-service's sidecar inbound; each inbound forwards to its own app), and
// giving the metrics each method's grpc_type.

import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { demoConfigs, demoMode, type DemoMode } from '../../../../examples/demo/configs.js';
import { DEMO_HOST, DEMO_PORTS } from '../../../../examples/demo/ports.js';
import { projectRoot } from '../../../../examples/services/shared/project-root.js';
import { bootstrapSchema, observabilityConfig, type BootstrapConfig } from '../../../../src/config/schema.js';
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

  it('uses each demo port exactly once', () => {
    const ports = Object.values(DEMO_PORTS);
    expect(new Set(ports).size).toBe(ports.length);
  });
});
