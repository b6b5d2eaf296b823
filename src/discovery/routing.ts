// SPDX-License-Identifier: Apache-2.0
// Chooses the resolver per backend: static endpoints from config win; any other name goes to Consul when Consul
// is configured, and is unknown otherwise. One Resolver to the balancer, so it never knows where endpoints come from.

import type { Resolver, Watch } from './resolver.js';
import type { StaticResolver } from './static.js';

export interface RoutingResolver extends Resolver {
  /** True when some resolver can serve `backend` (the outbound side rejects unknown names without any state). */
  has(backend: string): boolean;
}

export function createRoutingResolver(staticResolver: StaticResolver, dynamic: Resolver | undefined): RoutingResolver {
  return {
    kind: dynamic === undefined ? 'static' : `static+${dynamic.kind}`,
    has: (backend) => staticResolver.has(backend) || dynamic !== undefined,
    watch(backend, onResult): Watch {
      if (staticResolver.has(backend) || dynamic === undefined) return staticResolver.watch(backend, onResult);
      return dynamic.watch(backend, onResult);
    },
    // Static sets never change, so only the dynamic resolver has changes to report.
    watchChanges(backend, onResult): Watch {
      if (staticResolver.has(backend) || dynamic === undefined) return staticResolver.watch(backend, onResult);
      return dynamic.watchChanges !== undefined ? dynamic.watchChanges(backend, onResult) : dynamic.watch(backend, onResult);
    },
  };
}
