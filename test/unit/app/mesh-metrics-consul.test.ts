// SPDX-License-Identifier: Apache-2.0
// The Consul watch families of the mesh-state metrics: ignored answers are counted per upstream and reason, with
// every reason present (zero included) so rate() works from the first scrape.
import { describe, expect, it } from 'vitest';
import { addMeshStateMetrics } from '../../../src/app/mesh-metrics.js';
import type { ConsulBackendStats } from '../../../src/discovery/consul/resolver.js';
import { createMetrics } from '../../../src/telemetry/metrics.js';

const stats = (badResponses: ConsulBackendStats['badResponses']): ConsulBackendStats => ({
  service: 'orders',
  running: true,
  lastSuccessAt: 1_700_000_000_000,
  consecutiveErrors: 2,
  lastError: 'consul health.service: unexpected response: truncated after 100 bytes',
  lastIndex: 0,
  endpoints: 3,
  requests: 9,
  errors: 0,
  indexResets: 0,
  updates: 1,
  badResponses,
  subscribers: 1,
});

describe('meshlet_consul_watch_bad_responses_total', () => {
  it('reports each reason per upstream and the watch as down while answers are ignored', async () => {
    const m = createMetrics({ serviceName: 's', upstreamOf: (a) => a });
    addMeshStateMetrics(m, {
      consul: () => [stats({ truncated: 1, not_json: 0, missing_fields: 1, too_large: 0 })],
    });
    const { body } = await m.scrape();
    expect(body).toContain('meshlet_consul_watch_bad_responses_total{upstream="orders",reason="truncated"} 1');
    expect(body).toContain('meshlet_consul_watch_bad_responses_total{upstream="orders",reason="not_json"} 0');
    expect(body).toContain('meshlet_consul_watch_bad_responses_total{upstream="orders",reason="missing_fields"} 1');
    expect(body).toContain('meshlet_consul_watch_bad_responses_total{upstream="orders",reason="too_large"} 0');
    expect(body).toContain('meshlet_consul_watch_up{upstream="orders"} 0');
  });
});

describe('meshlet_health_app_serving', () => {
  it.each([
    ['UNKNOWN', null],
    ['SERVING', 1],
    ['NOT_SERVING', 0],
  ] as const)('reads %s as %s (no sample before the first check)', async (status, value) => {
    const m = createMetrics({ serviceName: 's', upstreamOf: (a) => a });
    addMeshStateMetrics(m, { app: () => status });
    const { body } = await m.scrape();
    const line = body.split('\n').find((l) => l.startsWith('meshlet_health_app_serving '));
    expect(line === undefined ? null : Number(line.split(' ')[1])).toBe(value);
  });
});
