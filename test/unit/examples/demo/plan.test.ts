// SPDX-License-Identifier: Apache-2.0
// What the demo starts: the sidecar command (MESHLET_BIN or the built CLI), the four children and how they are
// wired, and the readiness targets.

import { describe, expect, it } from 'vitest';

import { demoConfigs } from '../../../../examples/demo/configs.js';
import { caInitCommand, demoPlan, meshletCommand, missingBuildOutputs, serviceEntries } from '../../../../examples/demo/plan.js';
import { DEMO_PORTS } from '../../../../examples/demo/ports.js';
import { MESHLET_NODE_FLAGS } from '../../../../src/node-flags.js';

describe('caInitCommand', () => {
  it('runs `ca init` with an intermediate through the same meshlet command the sidecars use', () => {
    const meshlet = { command: 'node', args: ['--enable-source-maps', '/x/main.js'] };
    expect(caInitCommand(meshlet, '/tmp/d/ca', 'demo.meshlet')).toEqual({
      command: 'node',
      args: ['--enable-source-maps', '/x/main.js', 'ca', 'init', '--dir', '/tmp/d/ca', '--trust-domain', 'demo.meshlet', '--intermediate'],
    });
  });
});

describe('meshletCommand', () => {
  it('defaults to node running the built CLI under the repository root', () => {
    expect(meshletCommand({}, '/repo', '/usr/bin/node')).toEqual({ command: '/usr/bin/node', args: [...MESHLET_NODE_FLAGS, '/repo/dist/src/main.js'] });
  });

  it('splits MESHLET_BIN into a command and its arguments', () => {
    expect(meshletCommand({ MESHLET_BIN: '  node --enable-source-maps /x/main.js ' }, '/repo')).toEqual({
      command: 'node',
      args: ['--enable-source-maps', '/x/main.js'],
    });
    expect(meshletCommand({ MESHLET_BIN: 'meshlet' }, '/repo')).toEqual({ command: 'meshlet', args: [] });
  });

  it('ignores an empty MESHLET_BIN', () => {
    expect(meshletCommand({ MESHLET_BIN: ' ' }, '/repo', 'node').args).toEqual([...MESHLET_NODE_FLAGS, '/repo/dist/src/main.js']);
  });
});

describe('serviceEntries', () => {
  it('finds the compiled services next to the compiled demo', () => {
    expect(serviceEntries('file:///r/dist/examples/demo/main.js')).toEqual({
      userService: '/r/dist/examples/services/user-service/main.js',
      orderService: '/r/dist/examples/services/order-service/main.js',
    });
  });
});

describe('missingBuildOutputs', () => {
  it('lists only the paths that do not exist', () => {
    expect(missingBuildOutputs([import.meta.filename, '/no/such/file.js'])).toEqual(['/no/such/file.js']);
  });
});

describe('demoPlan', () => {
  const plan = demoPlan({
    configs: demoConfigs('static'),
    root: '/repo',
    meshlet: { command: 'meshlet', args: ['--x'] },
    nodePath: 'node',
    entries: { userService: '/d/user.js', orderService: '/d/order.js' },
    logDir: '/logs',
  });

  it('starts each app on its port and each sidecar with `run --config <its config>`', () => {
    expect(plan.children.map((c) => [c.name, c.command, c.args.join(' ')])).toEqual([
      ['user-service', 'node', `/d/user.js --port ${DEMO_PORTS.userApp} --host 127.0.0.1`],
      ['user-service sidecar', 'meshlet', `--x run --config ${demoConfigs('static').userSidecar}`],
      ['order-service', 'node', `/d/order.js --port ${DEMO_PORTS.orderApp} --host 127.0.0.1`],
      ['order-service sidecar', 'meshlet', `--x run --config ${demoConfigs('static').orderSidecar}`],
      [
        'web gateway',
        'meshlet',
        `--x proxy --listen 127.0.0.1:${DEMO_PORTS.webGateway} --upstream 127.0.0.1:${DEMO_PORTS.userApp} ` +
          `--admin 127.0.0.1:${DEMO_PORTS.webGatewayAdmin} --grpc-web-origin http://127.0.0.1:${DEMO_PORTS.webPage}`,
      ],
    ]);
    expect(new Set(plan.children.map((c) => c.logFile)).size).toBe(5);
    expect(plan.children.every((c) => c.logFile.startsWith('/logs/'))).toBe(true);
  });

  it('runs the sidecars in the repository root, where their configs\' protoFiles paths resolve', () => {
    expect(plan.children.map((c) => c.cwd)).toEqual([undefined, '/repo', undefined, '/repo', '/repo']);
  });

  it("points order-service at its own sidecar's outbound listener with authority user-service", () => {
    expect(plan.children[2]!.env).toEqual({
      USER_SERVICE_ADDR: `127.0.0.1:${DEMO_PORTS.orderOutbound}`,
      USER_SERVICE_AUTHORITY: 'user-service',
    });
  });

  it('serves the gRPC-Web page from another origin than the gateway it calls', () => {
    expect(plan.web.api).toBe(`http://127.0.0.1:${DEMO_PORTS.webGateway}`);
    expect(plan.web.page).toBe(`http://127.0.0.1:${DEMO_PORTS.webPage}/?api=${encodeURIComponent(plan.web.api)}`);
  });

  it("calls order-service through its sidecar's inbound listener", () => {
    expect(plan.callerAddress).toBe(`127.0.0.1:${DEMO_PORTS.orderInbound}`);
  });

  it("waits for both apps' health and both sidecars' /ready", () => {
    expect(plan.readiness).toEqual([
      { name: 'user-service', kind: 'app-health', target: `127.0.0.1:${DEMO_PORTS.userApp}` },
      { name: 'user-service sidecar', kind: 'sidecar-admin', target: `http://127.0.0.1:${DEMO_PORTS.userAdmin}/ready` },
      { name: 'order-service', kind: 'app-health', target: `127.0.0.1:${DEMO_PORTS.orderApp}` },
      { name: 'order-service sidecar', kind: 'sidecar-admin', target: `http://127.0.0.1:${DEMO_PORTS.orderAdmin}/ready` },
      { name: 'web gateway', kind: 'sidecar-admin', target: `http://127.0.0.1:${DEMO_PORTS.webGatewayAdmin}/ready` },
    ]);
    expect(plan.adminUrls.map((a) => a.config)).toEqual([
      `http://127.0.0.1:${DEMO_PORTS.userAdmin}/config`,
      `http://127.0.0.1:${DEMO_PORTS.orderAdmin}/config`,
    ]);
  });
});
