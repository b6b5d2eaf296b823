// SPDX-License-Identifier: Apache-2.0
// Composition root, readiness: the ordered checks behind /ready and the inbound grpc.health.v1 answers. Areas add
// their check here (e.g. "certs loaded"); the lifecycle in app.ts flips `listening` and `draining`.

import type { ReadinessCheck } from '../admin/server.js';
import type { Backends } from '../balance/backends.js';

export interface Readiness {
  /** The checks in order; the first reason is the one health answers show. Shared with the admin /ready route. */
  readonly checks: ReadinessCheck[];
  /** Appends a check (call while wiring, before the admin server is built). */
  add(check: ReadinessCheck): void;
  /** The first reason the sidecar is not ready, or undefined when every check passes. */
  notReady(): string | undefined;
  /** Called once every listener is started. */
  markListening(): void;
  /** Called when a drain starts; not ready from then on. */
  markDraining(): void;
}

/** Starts with two checks, in this order: not draining, listeners started. */
export function createReadiness(): Readiness {
  let listening = false;
  let draining = false;
  const checks: ReadinessCheck[] = [
    () => (draining ? 'draining' : undefined),
    () => (listening ? undefined : 'listeners not started'),
  ];
  return {
    checks,
    add: (check) => void checks.push(check),
    notReady() {
      for (const check of checks) {
        const reason = check();
        if (reason !== undefined) return reason;
      }
      return undefined;
    },
    markListening: () => void (listening = true),
    markDraining: () => void (draining = true),
  };
}

/**
 * Ready once every declared upstream has had its first discovery result (endpoints known). With no outbound side
 * (`backends` undefined) declared upstreams never resolve, so such a config is never ready.
 */
export function upstreamsResolved(upstreams: readonly string[], backends: Backends | undefined): ReadinessCheck {
  return () => {
    const pending = upstreams.filter((n) => backends?.get(n)?.resolved !== true);
    return pending.length === 0 ? undefined : `waiting for endpoints of ${pending.join(', ')}`;
  };
}
