// SPDX-License-Identifier: Apache-2.0
// What node-floor and h2-floor share as command-line programs: bind the listener, print the line the harness and
// the tests read the port from, and exit cleanly on SIGTERM/SIGINT (so `node --cpu-prof` writes its profile).

import type { Server } from 'node:net';
import { splitHostPort } from '../src/net/address.js';

/** `host:port` / `[v6]:port` → parts (meshlet's own parser; a module with no other imports). */
export const hostPort = splitHostPort;

/** Listens on `listen` (port 0 allowed), prints `<name> listening on host:port, relaying to <upstream>`. */
export async function listenAndAnnounce(server: Server, listen: string, name: string, upstream: string): Promise<void> {
  const { host, port } = hostPort(listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const boundPort = typeof bound === 'object' && bound !== null ? bound.port : port;
  // Tests start it on port 0 and read the port from this line.
  console.log(`${name} listening on ${host}:${boundPort}, relaying to ${upstream}`);
  process.once('SIGTERM', () => process.exit(0));
  process.once('SIGINT', () => process.exit(0));
}
