// SPDX-License-Identifier: Apache-2.0
// The static Resolver: endpoint lists from the bootstrap config (`upstreams.<name>.endpoints`), delivered once,
// asynchronously, as the Resolver contract requires (./resolver.ts). Backends without static endpoints are
// unknown here (they are Consul's).

import type { BootstrapConfig } from '../config/schema.js';
import { endpointFromAddress, type Endpoint, type Resolution, type Resolver, type Watch } from './resolver.js';

/** The result of watching a backend that has no static endpoints. */
export class UnknownBackendError extends Error {
  readonly backend: string;
  constructor(backend: string) {
    super(`unknown backend "${backend}"`);
    this.name = 'UnknownBackendError';
    this.backend = backend;
  }
}

export interface StaticResolver extends Resolver {
  readonly kind: 'static';
  /** True when `backend` has static endpoints (so app.ts can route it here rather than to Consul). */
  has(backend: string): boolean;
}

/**
 * Creates the resolver over `upstreams`. Parses every endpoint at creation (the config schema has validated
 * them; a bad one throws a TypeError naming it). `watch()` delivers exactly one result on a microtask:
 * `{ok: true}` with the endpoints (weight from `{address, weight}`, else 1; empty meta), or `{ok: false}` with an
 * {@link UnknownBackendError}. The config is static, so nothing follows; `close()` before delivery cancels it.
 */
export function createStaticResolver(upstreams: BootstrapConfig['upstreams']): StaticResolver {
  const sets = new Map<string, readonly Endpoint[]>();
  for (const [name, upstream] of Object.entries(upstreams)) {
    if (upstream.endpoints === undefined) continue;
    const endpoints = upstream.endpoints.map((e) =>
      typeof e === 'string' ? endpointFromAddress(e) : endpointFromAddress(e.address, e.weight),
    );
    sets.set(name, Object.freeze(endpoints));
  }

  return {
    kind: 'static',
    has: (backend) => sets.has(backend),
    watch(backend, onResult): Watch {
      let open = true;
      const endpoints = sets.get(backend);
      const result: Resolution =
        endpoints !== undefined ? { ok: true, endpoints } : { ok: false, error: new UnknownBackendError(backend) };
      queueMicrotask(() => {
        if (open) onResult(result);
      });
      return {
        close() {
          open = false;
        },
      };
    },
  };
}
