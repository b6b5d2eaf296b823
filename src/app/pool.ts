// SPDX-License-Identifier: Apache-2.0
// Composition root, session pools: one HTTP/2 session pool per direction, its events logged and counted.

import type { ConnectionConfig } from '../config/schema.js';
import { SessionPool } from '../proxy/http2/session-pool.js';
import type { Logger } from '../telemetry/logger.js';
import { countPoolEvents } from '../telemetry/mesh-metrics.js';
import type { Metrics } from '../telemetry/metrics.js';

/** A pool for `direction` with `config.connection` options; connect errors and closes are logged and counted. */
export function createSessionPool(direction: 'inbound' | 'outbound', options: ConnectionConfig, log: Logger, metrics: Metrics): SessionPool {
  return new SessionPool(options, countPoolEvents(poolEvents(log, direction), metrics, direction));
}

function poolEvents(log: Logger, direction: 'inbound' | 'outbound') {
  const plog = log.child({ component: 'pool', direction });
  return {
    onConnect: (address: string) => plog.debug({ upstream: address }, 'upstream session connected'),
    onConnectError: (address: string, err: Error) => plog.warn({ upstream: address, err: err.message }, 'upstream connect failed'),
    onClose: (address: string, reason: string) => plog.debug({ upstream: address, reason }, 'upstream session closed'),
  };
}
