// SPDX-License-Identifier: Apache-2.0
// GET /metrics: the Prometheus text exposition of every meshlet metric (src/telemetry/metrics.ts).

import type { Metrics } from '../../telemetry/metrics.js';
import type { AdminServer } from '../server.js';

export function addMetricsRoute(admin: AdminServer, metrics: Metrics): void {
  admin.route('GET', '/metrics', async () => {
    const { contentType, body } = await metrics.scrape();
    return { status: 200, body, contentType };
  });
}
