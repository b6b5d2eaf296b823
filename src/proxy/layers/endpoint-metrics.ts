// SPDX-License-Identifier: Apache-2.0
// endpoint-metrics (outbound, per attempt): counts each attempt sent to an endpoint of an upstream, by result
// code, and its duration. Below retry and balance, so a retried call counts once in `metrics` and once per attempt
// here. Not in the chain when metrics are off.

import { ProxyError, toProxyError } from '../../errors.js';
import type { AttemptMetricsTable } from '../../telemetry/metrics.js';
import type { ProxyCall, ProxyReply } from '../call.js';
import type { Layer } from '../layer.js';

export function endpointMetricsLayer(deps: { readonly table: AttemptMetricsTable }): Layer {
  const { table } = deps;
  return (next) => (call: ProxyCall) => {
    const series = table.series(call.backend ?? '');
    const startMs = performance.now();
    return next(call).then(
      (reply: ProxyReply) => {
        reply.onEnd((end) => series.end(end.status, startMs));
        return reply;
      },
      (err: unknown) => {
        series.end(err instanceof ProxyError ? err.grpcStatus : toProxyError(err).grpcStatus, startMs);
        throw err;
      },
    );
  };
}
