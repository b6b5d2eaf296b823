// SPDX-License-Identifier: Apache-2.0
// The local demo's fixed ports (one table; the YAML configs must agree, a unit test checks it) and the check that
// they are free before anything starts.

import { createServer } from 'node:net';

/**
 * Demo ports on 127.0.0.1. The hundreds digit names the service (71xx user-service, 72xx order-service); the last
 * two digits follow Linkerd's convention (…40 outbound, …43 inbound, …91 admin), …01 is the app and …44 the sidecar's
 * plaintext health port (`mtls.inbound.healthListen`, which Consul's check dials; Consul variant only). 7180/7181 are
 * the browser-facing gRPC-Web gateway in front of user-service and its admin, 7190 serves the page that calls it. Chosen away from
 * meshlet's and Linkerd's defaults (4140/4143/4191) and gRPC's customary 50051, so the demo runs beside them.
 */
export const DEMO_PORTS = Object.freeze({
  userApp: 7101,
  userInbound: 7143,
  userHealth: 7144,
  userAdmin: 7191,
  orderApp: 7201,
  orderInbound: 7243,
  orderOutbound: 7240,
  orderAdmin: 7291,
  webGateway: 7180,
  webGatewayAdmin: 7181,
  webPage: 7190,
});

/** What each port is for, for error messages. */
export const PORT_ROLES: Readonly<Record<keyof typeof DEMO_PORTS, string>> = Object.freeze({
  userApp: 'user-service app',
  userInbound: 'user-service sidecar inbound',
  userHealth: 'user-service sidecar health (plaintext)',
  userAdmin: 'user-service sidecar admin',
  orderApp: 'order-service app',
  orderInbound: 'order-service sidecar inbound',
  orderOutbound: 'order-service sidecar outbound',
  orderAdmin: 'order-service sidecar admin',
  webGateway: 'gRPC-Web gateway (meshlet proxy --grpc-web-origin)',
  webGatewayAdmin: 'gRPC-Web gateway admin',
  webPage: 'gRPC-Web demo page',
});

/** The demo's loopback host. */
export const DEMO_HOST = '127.0.0.1';

/** True when nothing listens on `host:port` (a bind succeeds); the probe socket is closed again before resolving. */
export function isPortFree(port: number, host: string = DEMO_HOST): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(false);
      else reject(err);
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** The `[role, port]` pairs of `ports` that are taken, in table order. */
export async function takenPorts(
  ports: Readonly<Record<string, number>> = DEMO_PORTS,
  roles: Readonly<Record<string, string>> = PORT_ROLES,
  host: string = DEMO_HOST,
): Promise<Array<[role: string, port: number]>> {
  const taken: Array<[string, number]> = [];
  for (const [key, port] of Object.entries(ports)) {
    if (!(await isPortFree(port, host))) taken.push([roles[key] ?? key, port]);
  }
  return taken;
}
