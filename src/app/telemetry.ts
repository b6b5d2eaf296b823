// SPDX-License-Identifier: Apache-2.0
// Composition root, telemetry area: the metrics registry, process metrics, tracing and the resilience-event hooks
// that count into the registry. A leaf of the wiring: every other area takes what this builds, it takes nothing.

import { type BootstrapConfig, observabilityConfig } from '../config/schema.js';
import { backendFromAuthority } from '../proxy/layers/route.js';
import type { ChainFeatures } from '../proxy/outbound.js';
import { combineEvents, type ResilienceEvents } from '../resilience/events.js';
import type { Logger } from '../telemetry/logger.js';
import { createMetrics, type GrpcType, MethodTypes, type Metrics } from '../telemetry/metrics.js';
import { addProcessMetrics, meshletVersion } from '../telemetry/process-metrics.js';
import type { Tracing } from '../telemetry/tracing.js';

export interface TelemetryDeps {
  readonly log: Logger;
  /** Extra sinks for resilience decisions and policy reloads (AppOptions.resilienceEvents). Default: none. */
  readonly resilienceEvents?: ResilienceEvents;
}

export interface AppTelemetry {
  /** The observability sections with every default applied (metrics, tracing, health, allowRemoteMutations). */
  readonly obs: ReturnType<typeof observabilityConfig>;
  /** The one registry of the process; every metric is defined on it. */
  readonly metrics: Metrics;
  /** `metrics` when `metrics.enabled`, else undefined: the chains then get no metrics layer and no per-call cost. */
  readonly callMetrics: Metrics | undefined;
  /** Present only when `tracing.mode` is `on` (otherwise no layer and no per-call cost). */
  readonly tracing: Tracing | undefined;
  /** Resilience decisions counted into `metrics`, then passed to `deps.resilienceEvents`. */
  readonly events: ResilienceEvents;
  /** Stop hook: flushes the spans still queued (last but one in a drain, before the admin server closes). */
  close(): Promise<void>;
}

/** One bootstrap switch of an optional chain layer: where it is set, its value as written, whether it is on. */
export interface FeatureSetting {
  readonly path: readonly string[];
  value(config: BootstrapConfig): string;
  on(config: BootstrapConfig): boolean;
}

/**
 * The bootstrap switches of the chains' optional layers: `log.accessLog`, `metrics.enabled`, `tracing.mode`.
 * `createTelemetry` decides with them whether the chains get metrics and tracing; `meshlet explain` prints them.
 */
export const FEATURE_SETTINGS: { readonly [K in keyof ChainFeatures]: FeatureSetting } = {
  accessLog: { path: ['log', 'accessLog'], value: (c) => String(c.log.accessLog), on: (c) => c.log.accessLog },
  metrics: {
    path: ['metrics', 'enabled'],
    value: (c) => String(observabilityConfig(c).metrics.enabled),
    on: (c) => observabilityConfig(c).metrics.enabled,
  },
  tracing: {
    path: ['tracing', 'mode'],
    value: (c) => observabilityConfig(c).tracing.mode,
    on: (c) => observabilityConfig(c).tracing.mode === 'on',
  },
};

/** Which optional layers the chains of `config` have (FEATURE_SETTINGS evaluated). */
export function chainFeatures(config: BootstrapConfig): ChainFeatures {
  const { accessLog, metrics, tracing } = FEATURE_SETTINGS;
  return { accessLog: accessLog.on(config), metrics: metrics.on(config), tracing: tracing.on(config) };
}

/**
 * The grpc_type lookup of `metrics.methodTypes` and `metrics.protoFiles`. @grpc/proto-loader (with protobufjs) is
 * loaded only when `protoFiles` names a file: it is the one feature that needs it.
 */
async function methodTypesOf(entries: Readonly<Record<string, GrpcType>>, protoFiles: readonly string[]): Promise<MethodTypes> {
  if (protoFiles.length > 0) return (await import('../telemetry/method-types.js')).loadMethodTypes(entries, protoFiles);
  const types = new MethodTypes();
  for (const [key, type] of Object.entries(entries)) types.set(key, type);
  return types;
}

/**
 * Builds the registry and tracing from the config's observability sections. Starts nothing (no timers, no I/O).
 * The OpenTelemetry SDK (./telemetry/tracing.ts) is imported here, and only when tracing is on; @grpc/proto-loader
 * only with `metrics.protoFiles`.
 */
export async function createTelemetry(config: BootstrapConfig, deps: TelemetryDeps): Promise<AppTelemetry> {
  const version = meshletVersion();
  const obs = observabilityConfig(config);
  const features = chainFeatures(config);
  const metrics = createMetrics({
    serviceName: config.service.name,
    upstreamOf: backendFromAuthority,
    maxMethods: obs.metrics.maxMethods,
    maxUpstreams: obs.metrics.maxUpstreams,
    countUnknownMessages: obs.metrics.countUnknownMessages,
    methodTypes: await methodTypesOf(obs.metrics.methodTypes, obs.metrics.protoFiles),
  });
  if (obs.metrics.process) addProcessMetrics(metrics.registry, { version, eventLoopResolutionMs: obs.metrics.eventLoopResolutionMs });
  const tracing =
    features.tracing
      ? (await import('../telemetry/tracing.js')).createTracing({
          serviceName: obs.tracing.serviceName ?? config.service.name,
          sampleRatio: obs.tracing.sampleRatio,
          propagation: obs.tracing.propagation,
          endpoint: obs.tracing.endpoint,
          batchDelayMs: obs.tracing.batchDelayMs,
          exportTimeoutMs: obs.tracing.exportTimeoutMs,
          maxQueueSize: obs.tracing.maxQueueSize,
          version,
          log: deps.log.child({ component: 'tracing' }),
          onExport: (spans, ok) => (ok ? metrics.tracing.spansExported : metrics.tracing.spansFailed).inc(spans),
        })
      : undefined;
  return {
    obs,
    metrics,
    callMetrics: features.metrics ? metrics : undefined,
    tracing,
    events: combineEvents(resilienceEvents(metrics), deps.resilienceEvents),
    async close() {
      await tracing?.shutdown();
    },
  };
}

/**
 * The resilience decision hooks (src/resilience/events.ts) bound to their counters: pass the result wherever the
 * resilience layers take `ResilienceEvents`. Reload results map to `accepted` (applied), `rejected`, `unchanged`.
 */
export function resilienceEvents(metrics: Metrics): ResilienceEvents {
  const r = metrics.resilience;
  const reloads = metrics.config.reloads;
  return {
    onEject: (backend) => r.ejections.inc({ upstream: backend }),
    onEjectSkipped: (backend) => r.ejectionsSkipped.inc({ upstream: backend }),
    onProbation: (backend) => r.probations.inc({ upstream: backend }),
    onRestore: (backend) => r.restores.inc({ upstream: backend }),
    onOverflow: (backend, limit) => r.overflows.inc({ upstream: backend, limit }),
    onBreakerState: (backend, state) => {
      r.setBreakerState(backend, state);
      r.breakerTransitions.inc({ upstream: backend, state });
    },
    onBreakerReject: (backend) => r.breakerRejections.inc({ upstream: backend }),
    onRetry: (backend, reason) => r.retries.inc({ upstream: backend, reason }),
    onRetryGiveUp: (backend, why) => r.retriesGivenUp.inc({ upstream: backend, reason: why }),
    onRetryPushback: (backend) => r.retryPushbacks.inc({ upstream: backend }),
    onBudgetExhausted: (backend) => r.budgetExhausted.inc({ upstream: backend }),
    onShadow: (feature, backend, detail) => r.shadow.inc({ feature, upstream: backend, detail }),
    onReload: (result) => reloads.inc({ result: result === 'applied' ? 'accepted' : result }),
  };
}
