// SPDX-License-Identifier: Apache-2.0
// The Grafana dashboard and docs/observability.md only name metrics meshlet actually exposes, so a renamed metric
// cannot silently leave an empty panel or a stale reference behind.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Backends } from '../../../src/balance/backends.js';
import type { SessionPool } from '../../../src/h2/session-pool.js';
import { backendFromAuthority } from '../../../src/proxy/layers/route.js';
import { addMeshStateMetrics } from '../../../src/app/mesh-metrics.js';
import { createMetrics } from '../../../src/telemetry/metrics.js';
import { addProcessMetrics } from '../../../src/telemetry/process-metrics.js';

async function exposedFamilies(): Promise<Set<string>> {
  const m = createMetrics({ serviceName: 's', upstreamOf: backendFromAuthority });
  addProcessMetrics(m.registry, { version: 'test' });
  const pool = { stats: () => ({}) } as unknown as SessionPool;
  addMeshStateMetrics(m, {
    backends: { list: () => [] } as unknown as Backends,
    pools: { inbound: pool, outbound: pool },
    consul: () => [],
    registration: () => 'registered',
    inflight: { inbound: () => 0, outbound: () => 0 },
    served: () => 'SERVING',
    app: () => 'SERVING',
  });
  return new Set(m.registry.getMetricsAsArray().map((metric) => metric.name));
}

function referenced(text: string): Set<string> {
  const names = new Set<string>();
  for (const [name] of text.matchAll(/meshlet_[a-z0-9_]+/g)) names.add(name.replace(/_(bucket|sum|count)$/, ''));
  return names;
}

describe('metric references', () => {
  it('the Grafana dashboard queries only exposed metrics and covers the issue\'s panels', async () => {
    const families = await exposedFamilies();
    const dashboard = JSON.parse(readFileSync('deploy/grafana/meshlet-dashboard.json', 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    const unknown = [...referenced(exprs)].filter((n) => !families.has(n));
    expect(unknown).toEqual([]);
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of ['Request rate', 'Error rate (non-OK)', 'Latency p99', 'Endpoints by state', 'Breaker state (1 = current)', 'Limit overflows and breaker rejections']) expect(titles).toContain(t);
  });

  it('docs/observability.md names only exposed metrics, and documents every meshlet-specific one', async () => {
    const families = await exposedFamilies();
    const doc = readFileSync('docs/observability.md', 'utf8');
    const named = referenced(doc);
    // Names in the docs' "adding a metric" example are illustrations, not meshlet metrics.
    const examples = new Set(['meshlet_example_rejected_total']);
    // The process families come from prom-client and are listed by pattern (e.g. `_p50`, `_p90` variants).
    const unknown = [...named].filter((n) => !families.has(n) && !examples.has(n) && !/^meshlet_(process|nodejs)_/.test(n));
    expect(unknown).toEqual([]);
    const undocumented = [...families].filter((n) => !/^meshlet_(process|nodejs)_/.test(n) && !named.has(n));
    expect(undocumented).toEqual([]);
  });
});
