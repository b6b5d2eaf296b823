// SPDX-License-Identifier: Apache-2.0
// The outbound chain (local app → mesh). The order of layers lives here and nowhere else.

import type { Backends } from '../balance/backends.js';
import type { Logger } from '../telemetry/logger.js';
import { forwardHandler } from './forward.js';
import type { SessionPool } from './http2/session-pool.js';
import { compose, type Handler, type Layer } from './layer.js';
import { accessLogLayer } from './layers/access-log.js';
import { balanceLayer } from './layers/balance.js';
import { deadlineLayer } from './layers/deadline.js';
import { rescueLayer } from './layers/rescue.js';
import { routeLayer } from './layers/route.js';

export interface OutboundDeps {
  readonly backends: Backends;
  readonly pool: SessionPool;
  readonly log: Logger;
  readonly accessLog: boolean;
}

export function outboundLayers(deps: OutboundDeps): Layer[] {
  return [
    // rescue is outermost: every failure below becomes a Trailers-Only status.
    rescueLayer({ log: deps.log }),
    // access-log sees the final status, including meshlet-made errors, and the endpoint of the last attempt.
    ...(deps.accessLog ? [accessLogLayer({ log: deps.log.child({ component: 'access' }) })] : []),
    // deadline first, so discovery waits and connects count against the client's budget.
    deadlineLayer(),
    // route names the backend from :authority; balance picks an endpoint per request and re-sends attempts that
    // never reached the app to another endpoint (retry above balance, so a retry can pick a different endpoint).
    routeLayer(),
    balanceLayer({ backends: deps.backends }),
  ];
}

export function outboundHandler(deps: OutboundDeps): Handler {
  return compose(outboundLayers(deps), forwardHandler({ pool: deps.pool }));
}
