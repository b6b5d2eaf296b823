// SPDX-License-Identifier: Apache-2.0
// The inbound chain (peer sidecars → local app). The order of layers lives here and nowhere else.

import type { SessionPool } from './http2/session-pool.js';
import { forwardHandler } from './forward.js';
import { compose, type Handler, type Layer } from './layer.js';
import { accessLogLayer } from './layers/access-log.js';
import { deadlineLayer } from './layers/deadline.js';
import { localAppLayer } from './layers/local-app.js';
import { rescueLayer } from './layers/rescue.js';
import type { Logger } from '../telemetry/logger.js';

export interface InboundDeps {
  readonly service: string;
  readonly appAddress: string;
  readonly pool: SessionPool;
  readonly log: Logger;
  readonly accessLog: boolean;
}

export function inboundLayers(deps: InboundDeps): Layer[] {
  return [
    // rescue is outermost: every failure below becomes a Trailers-Only status.
    rescueLayer({ log: deps.log }),
    // access-log sees the final status of the call, including meshlet-made errors (it rethrows them to rescue).
    ...(deps.accessLog ? [accessLogLayer({ log: deps.log.child({ component: 'access' }) })] : []),
    // deadline starts before anything that can wait (connecting to the app), so waiting counts against the budget.
    deadlineLayer(),
    // Later: authz and rate limits go here, after the deadline and before the app.
    localAppLayer({ service: deps.service, appAddress: deps.appAddress }),
  ];
}

export function inboundHandler(deps: InboundDeps): Handler {
  return compose(inboundLayers(deps), forwardHandler({ pool: deps.pool }));
}
