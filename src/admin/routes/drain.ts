// SPDX-License-Identifier: Apache-2.0
// POST /drain: starts a graceful drain without stopping the process (a Kubernetes preStop hook, or an operator):
// health turns NOT_SERVING, the instance deregisters from Consul, listeners send GOAWAY and in-flight calls finish.
// The admin server stays up, so /ready (503) and /metrics can still be read; SIGTERM later finishes the shutdown.

import type { AdminServer } from '../server.js';
import { mutation } from './guard.js';

export function addDrainRoute(admin: AdminServer, drain: () => Promise<unknown>, allowRemoteMutations: boolean): void {
  let started = false;
  admin.route(
    'POST',
    '/drain',
    mutation(() => {
      const already = started;
      started = true;
      // Not awaited: the drain lasts up to shutdown.drainTimeoutMs; the answer only says it has begun.
      if (!already) drain().catch(() => undefined); // the drain logs its own failures
      return { status: 202, body: { draining: true, alreadyDraining: already } };
    }, allowRemoteMutations),
  );
}
