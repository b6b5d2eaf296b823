// SPDX-License-Identifier: Apache-2.0
// Composition root, session pools: one HTTP/2 session pool per direction, its events logged and counted.

import type { ConnectionConfig, Http2Config } from '../config/schema.js';
import { MemoryBudget } from '../h2/memory-budget.js';
import { type Connector, SessionPool } from '../h2/session-pool.js';
import type { Logger } from '../telemetry/logger.js';
import { countPoolEvents } from './mesh-metrics.js';
import type { Metrics } from '../telemetry/metrics.js';

/**
 * A pool for `direction` with `config.connection` options and the windows and header limit of `config.http2`;
 * connect errors and closes are logged and counted. `connector` opens the transports (default: plain TCP, h2c).
 */
export function createSessionPool(
  direction: 'inbound' | 'outbound',
  options: ConnectionConfig,
  http2: Http2Config,
  log: Logger,
  metrics: Metrics,
  connector?: Connector,
): SessionPool {
  const poolOptions = {
    ...options,
    ...(connector !== undefined ? { connector } : {}),
    streamWindowBytes: http2.streamWindowBytes,
    connectionWindowBytes: http2.connectionWindowBytes,
    maxHeaderListBytes: http2.maxHeaderListBytes,
  };
  return new SessionPool(poolOptions, countPoolEvents(poolEvents(log, direction), metrics, direction));
}

/** One stream memory budget per loaded config: every listener built from it (inbound, outbound, health) shares it. */
const budgets = new WeakMap<Http2Config, MemoryBudget>();

/** The HTTP/2 options of a listener, from `config.http2`; listeners of one config share `http2.memoryBudgetBytes`. */
export function listenerHttp2Options(http2: Http2Config) {
  let memoryBudget = budgets.get(http2);
  if (memoryBudget === undefined) {
    memoryBudget = new MemoryBudget(http2.memoryBudgetBytes);
    budgets.set(http2, memoryBudget);
  }
  return {
    streamWindowBytes: http2.streamWindowBytes,
    connectionWindowBytes: http2.connectionWindowBytes,
    maxConcurrentStreams: http2.maxConcurrentStreams,
    maxHeaderListBytes: http2.maxHeaderListBytes,
    handshakeTimeoutMs: http2.handshakeTimeoutMs,
    idleTimeoutMs: http2.idleTimeoutMs,
    memoryBudget,
  };
}

function poolEvents(log: Logger, direction: 'inbound' | 'outbound') {
  const plog = log.child({ component: 'pool', direction });
  return {
    onConnect: (address: string) => plog.debug({ upstream: address }, 'upstream session connected'),
    onConnectError: (address: string, err: Error) => plog.warn({ upstream: address, err: err.message }, 'upstream connect failed'),
    onClose: (address: string, reason: string) => plog.debug({ upstream: address, reason }, 'upstream session closed'),
    onWindowBound: (address: string, maxStreamsPerSession: number) =>
      plog.info(
        { upstream: address, maxStreamsPerSession },
        "the upstream's connection window held back DATA: calls to it now go over connections of at most maxStreamsPerSession calls",
      ),
  };
}
