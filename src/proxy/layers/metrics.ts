// SPDX-License-Identifier: Apache-2.0
// metrics: counts every call of a listener once (started, handled by grpc_code, handling time, bytes, messages)
// into its pre-bound CallSeries. Sits above retries and balancing, so it counts calls, not attempts
// (endpoint-metrics counts attempts). Not in the chain at all when metrics are off.

import { ProxyError, toProxyError } from '../../errors.js';
import type { CallMetricsTable } from '../../telemetry/metrics.js';
import type { ProxyCall, ProxyReply } from '../call.js';
import { countMessages, requestSource } from '../message-counter.js';
import type { Layer } from '../layer.js';

export interface MetricsLayerDeps {
  /** The table of this listener's direction (`metrics.calls.inbound` or `.outbound`). */
  readonly table: CallMetricsTable;
}

export function metricsLayer(deps: MetricsLayerDeps): Layer {
  const { table } = deps;
  return (next) => (call: ProxyCall) => {
    const series = table.series(call);
    series.started++;
    if (series.parseReceived) {
      countMessages(requestSource(call.body), series, true);
    }
    return next(call).then(
      (reply: ProxyReply) => {
        if (series.parseSent && reply.body !== null) countMessages(reply.body, series, false);
        reply.onEnd((end) => series.end(call, end.status));
        return reply;
      },
      (err: unknown) => {
        series.end(call, err instanceof ProxyError ? err.grpcStatus : toProxyError(err).grpcStatus);
        throw err;
      },
    );
  };
}

