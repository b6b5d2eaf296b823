// SPDX-License-Identifier: Apache-2.0
// The observability sections with every default applied, without the schema: the composition root reads them at
// start, and the sidecar's thread does not load zod for them (docs/decisions.md §15). The defaults are the
// schema's own; test/unit/config/observability.test.ts fails when they differ.

import type { BootstrapConfig, HealthConfig, MetricsConfig, TracingConfig } from './schema.js';

/** What `metrics: {}`, `tracing: {}` and `health: {}` parse to. */
export const OBSERVABILITY_DEFAULTS: { readonly metrics: MetricsConfig; readonly tracing: TracingConfig; readonly health: HealthConfig } = deepFreeze({
  metrics: { enabled: true, maxMethods: 500, maxUpstreams: 100, methodTypes: {}, protoFiles: [], countUnknownMessages: false, process: true },
  tracing: {
    mode: 'off',
    sampleRatio: 0.01,
    endpoint: 'http://127.0.0.1:4318/v1/traces',
    propagation: ['tracecontext', 'b3', 'b3multi'],
    batchDelayMs: 5000,
    exportTimeoutMs: 10_000,
    maxQueueSize: 2048,
  },
  health: {
    appCheck: 'grpc',
    appHttp: { path: '/healthz' },
    appService: '',
    intervalMs: 5000,
    timeoutMs: 1000,
    upstreams: { enabled: false, service: '', intervalMs: 10_000, timeoutMs: 1000, unhealthyThreshold: 2, healthyThreshold: 1 },
  },
});

/** The observability sections with every default applied, whether or not the config has them. */
export function observabilityConfig(config: BootstrapConfig): {
  metrics: MetricsConfig;
  tracing: TracingConfig;
  health: HealthConfig;
  allowRemoteMutations: boolean;
} {
  return {
    metrics: config.metrics ?? OBSERVABILITY_DEFAULTS.metrics,
    tracing: config.tracing ?? OBSERVABILITY_DEFAULTS.tracing,
    health: config.health ?? OBSERVABILITY_DEFAULTS.health,
    allowRemoteMutations: config.admin.allowRemoteMutations ?? false,
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
