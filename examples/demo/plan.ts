// SPDX-License-Identifier: Apache-2.0
// What the demo starts, as data: the four child processes (two apps, two sidecars) with their commands, env and log
// files, and the endpoints to probe for readiness. Pure, so a test can check it against the configs and ports.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { ChildSpec } from './children.js';
import type { DemoConfigs } from './configs.js';
import { DEMO_HOST, DEMO_PORTS } from './ports.js';
import { MESHLET_NODE_FLAGS } from '../../src/node-flags.js';

/** A command line split into executable and arguments. */
export interface Command {
  command: string;
  args: string[];
}

/**
 * The meshlet CLI: `MESHLET_BIN` when set (a command line split on whitespace, e.g. `node --enable-source-maps
 * /x/dist/src/main.js` or an installed `meshlet`), else `node <MESHLET_NODE_FLAGS> <root>/dist/src/main.js`.
 */
export function meshletCommand(env: NodeJS.ProcessEnv, root: string, nodePath: string = process.execPath): Command {
  const custom = env.MESHLET_BIN?.trim();
  if (custom) {
    const [command, ...args] = custom.split(/\s+/);
    return { command: command!, args };
  }
  return { command: nodePath, args: [...MESHLET_NODE_FLAGS, join(root, 'dist', 'src', 'main.js')] };
}

/**
 * `meshlet ca init --dir <caDir> --trust-domain <trustDomain> --intermediate` with the same meshlet command the
 * sidecars run: the CA the demo's sidecars issue their leaves from (an intermediate signs them, as in production).
 */
export function caInitCommand(meshlet: Command, caDir: string, trustDomain: string): Command {
  return { command: meshlet.command, args: [...meshlet.args, 'ca', 'init', '--dir', caDir, '--trust-domain', trustDomain, '--intermediate'] };
}

/** Files the default plan needs that `npm run build` makes; returns the missing ones. */
export function missingBuildOutputs(paths: readonly string[]): string[] {
  return paths.filter((p) => !existsSync(p));
}

/** The compiled service entries, found next to the compiled demo (dist/examples/demo → dist/examples/services). */
export function serviceEntries(demoUrl: string = import.meta.url): { userService: string; orderService: string } {
  const at = (rel: string) => fileURLToPath(new URL(rel, demoUrl));
  return { userService: at('../services/user-service/main.js'), orderService: at('../services/order-service/main.js') };
}

/** Readiness targets. */
export interface ReadinessTarget {
  name: string;
  kind: 'sidecar-admin' | 'app-health';
  /** `http://…/ready` for a sidecar, `host:port` for an app. */
  target: string;
}

/** Everything the demo starts and checks. */
export interface DemoPlan {
  children: ChildSpec[];
  readiness: ReadinessTarget[];
  /** Where the demo client calls: order-service's sidecar inbound. */
  callerAddress: string;
  /** The gRPC-Web part: the gateway's URL (what the page calls) and the page's (another origin: CORS for real). */
  web: { api: string; page: string; pageHost: string; pagePort: number };
  /** Admin URLs to print; `admin` is the base URL (its /certs names the sidecar's identity). */
  adminUrls: Array<{ name: string; admin: string; ready: string; config: string }>;
}

/** Inputs of demoPlan. */
export interface PlanInputs {
  configs: DemoConfigs;
  /**
   * The repository root: the sidecars' working directory, so the relative `metrics.protoFiles` paths in their
   * configs resolve wherever the demo is started from.
   */
  root: string;
  meshlet: Command;
  nodePath: string;
  entries: { userService: string; orderService: string };
  logDir: string;
  ports?: typeof DEMO_PORTS;
}

const adminUrlsOf = (name: string, admin: string) => ({ name, admin, ready: `${admin}/ready`, config: `${admin}/config` });

/** Builds the plan. Children are listed in start order: user-service, its sidecar, order-service, its sidecar. */
export function demoPlan({ configs, root, meshlet, nodePath, entries, logDir, ports = DEMO_PORTS }: PlanInputs): DemoPlan {
  const addr = (port: number) => `${DEMO_HOST}:${port}`;
  const admin = (port: number) => `http://${DEMO_HOST}:${port}`;
  const sidecar = (name: string, config: string): ChildSpec => ({
    name: `${name} sidecar`,
    command: meshlet.command,
    args: [...meshlet.args, 'run', '--config', config],
    logFile: join(logDir, `${name}-sidecar.log`),
    cwd: root,
  });
  return {
    children: [
      {
        name: 'user-service',
        command: nodePath,
        args: [entries.userService, '--port', String(ports.userApp), '--host', DEMO_HOST],
        logFile: join(logDir, 'user-service.log'),
      },
      sidecar('user-service', configs.userSidecar),
      {
        name: 'order-service',
        command: nodePath,
        args: [entries.orderService, '--port', String(ports.orderApp), '--host', DEMO_HOST],
        // order-service calls user-service through ITS OWN sidecar's outbound listener, by authority.
        env: { USER_SERVICE_ADDR: addr(ports.orderOutbound), USER_SERVICE_AUTHORITY: 'user-service' },
        logFile: join(logDir, 'order-service.log'),
      },
      sidecar('order-service', configs.orderSidecar),
      {
        // The browser-facing edge: quick mode with gRPC-Web on, calling user-service; CORS allows the page's origin.
        name: 'web gateway',
        command: meshlet.command,
        args: [
          ...meshlet.args, 'proxy', '--listen', addr(ports.webGateway), '--upstream', addr(ports.userApp),
          '--admin', addr(ports.webGatewayAdmin), '--grpc-web-origin', `http://${addr(ports.webPage)}`,
        ],
        logFile: join(logDir, 'web-gateway.log'),
        cwd: root,
      },
    ],
    readiness: [
      { name: 'user-service', kind: 'app-health', target: addr(ports.userApp) },
      { name: 'user-service sidecar', kind: 'sidecar-admin', target: `${admin(ports.userAdmin)}/ready` },
      { name: 'order-service', kind: 'app-health', target: addr(ports.orderApp) },
      { name: 'order-service sidecar', kind: 'sidecar-admin', target: `${admin(ports.orderAdmin)}/ready` },
      { name: 'web gateway', kind: 'sidecar-admin', target: `${admin(ports.webGatewayAdmin)}/ready` },
    ],
    web: {
      api: `http://${addr(ports.webGateway)}`,
      page: `http://${addr(ports.webPage)}/?api=${encodeURIComponent(`http://${addr(ports.webGateway)}`)}`,
      pageHost: DEMO_HOST,
      pagePort: ports.webPage,
    },
    callerAddress: addr(ports.orderInbound),
    adminUrls: [
      adminUrlsOf('user-service sidecar', admin(ports.userAdmin)),
      adminUrlsOf('order-service sidecar', admin(ports.orderAdmin)),
    ],
  };
}
