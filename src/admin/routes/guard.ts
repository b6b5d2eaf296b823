// SPDX-License-Identifier: Apache-2.0
// Admin mutations (PUT /log-level, POST /drain) only from loopback unless `admin.allowRemoteMutations`: the admin
// port may be opened to the pod network for Prometheus to scrape /metrics, and that must not open the drain button.

import type { IncomingMessage } from 'node:http';
import type { AdminResponse, AdminRoute } from '../server.js';

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || a.startsWith('127.');
}

/** Wraps a mutating route: non-loopback clients get 403 unless `allowRemote`. */
export function mutation(route: AdminRoute, allowRemote: boolean): AdminRoute {
  return (req: IncomingMessage, body: string): AdminResponse | Promise<AdminResponse> => {
    if (!allowRemote && !isLoopback(req.socket.remoteAddress)) {
      return { status: 403, body: { error: 'admin mutations are accepted from loopback only (admin.allowRemoteMutations)' } };
    }
    return route(req, body);
  };
}
