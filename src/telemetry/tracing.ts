// SPDX-License-Identifier: Apache-2.0
// OpenTelemetry tracing of calls: parent-based head sampling, one SERVER span per inbound call, one INTERNAL span
// per sampled outbound call with one CLIENT span per attempt under it, exported in batches over OTLP/HTTP (JSON) to
// Jaeger or any OTLP collector. Propagation is ./propagation.ts; the layers are src/proxy/layers/tracing.ts.
//
// Only sampled calls touch the OpenTelemetry SDK. An unsampled call with a parent passes its headers through
// untouched; an unsampled root gets fresh IDs with the sampled flag off, so every later hop makes the same decision.

import { ROOT_CONTEXT, type Context, type Span, SpanKind, SpanStatusCode, trace, TraceFlags, type Tracer } from '@opentelemetry/api';
import { ExportResultCode, TraceState, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { CallEnd, CallInfo } from '../grpc/call.js';
import type { Logger } from './logger.js';
import { extract, formatMask, inject, newSpanId, newTraceId, type PropagationFormat, type RemoteParent } from './propagation.js';
import { TracedCall } from './traced-call.js';

/** Semantic-convention attribute names (OpenTelemetry semconv, RPC and network spans). */
export const ATTR = Object.freeze({
  RPC_SYSTEM: 'rpc.system',
  RPC_SERVICE: 'rpc.service',
  RPC_METHOD: 'rpc.method',
  RPC_GRPC_STATUS_CODE: 'rpc.grpc.status_code',
  NETWORK_PEER_ADDRESS: 'network.peer.address',
  NETWORK_PEER_PORT: 'network.peer.port',
  SERVER_ADDRESS: 'server.address',
  SERVER_PORT: 'server.port',
  /** meshlet's own: the mTLS peer identity (SPIFFE ID) when there is one. */
  PEER_IDENTITY: 'meshlet.peer.identity',
  DIRECTION: 'meshlet.direction',
  UPSTREAM: 'meshlet.upstream',
  /** 1 for the first attempt of an outbound call, 2 for the first retry, ... */
  ATTEMPT: 'meshlet.attempt',
  /** The `x-meshlet-error` code when meshlet made the status. */
  ERROR_CODE: 'meshlet.error_code',
});

/**
 * gRPC statuses that mark a SERVER span as an error (semconv "gRPC": UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
 * INTERNAL, UNAVAILABLE, DATA_LOSS); on CLIENT and INTERNAL spans every status but OK is an error.
 */
const SERVER_ERROR_CODES = new Set([2, 4, 12, 13, 14, 15]);

/** Options of {@link createTracing}. */
export interface TracingOptions {
  /** `service.name` of the exported resource (config `tracing.serviceName`, default the local service name). */
  readonly serviceName: string;
  /** Probability of sampling a call that arrives without a sampling decision. Range 0-1; default 0.01 (config). */
  readonly sampleRatio: number;
  /** Formats extracted (W3C wins) and injected (see {@link Tracing.injectMask}). Default all three. */
  readonly propagation: readonly PropagationFormat[];
  /** OTLP/HTTP traces URL; default http://127.0.0.1:4318/v1/traces (Jaeger's OTLP receiver). */
  readonly endpoint: string;
  /** Extra HTTP headers on export requests (collector auth). Default none. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Batch export interval, ms; default 5000, range 100-60000. */
  readonly batchDelayMs?: number;
  /** Export request timeout, ms; default 10000. */
  readonly exportTimeoutMs?: number;
  /** Spans queued for export before new ones are dropped; default 2048. */
  readonly maxQueueSize?: number;
  /** Replaces the OTLP exporter (tests: an in-memory exporter). */
  readonly exporter?: SpanExporter;
  /** Uniform [0, 1) for root sampling decisions; default Math.random. */
  readonly random?: () => number;
  readonly log: Logger;
  /** Export outcome counters (src/telemetry/metrics.ts `tracing`). */
  readonly onExport?: (spans: number, ok: boolean) => void;
  /** meshlet's version, as the instrumentation scope version. */
  readonly version?: string;
}

export { TracedCall };

/** Tracing of one sidecar. Created only when `tracing.mode` is on: with tracing off there is no object and no layer. */
export interface Tracing {
  /** FORMAT_BIT flags of the configured formats. */
  readonly extractMask: number;
  /**
   * Inbound: extracts the parent, decides, and (sampled) starts the SERVER span; writes the hop's IDs on the request
   * headers for the app unless the call is an unsampled pass-through.
   */
  startServer(call: CallInfo): TracedCall;
  /**
   * Outbound, once per call: extracts the parent and decides; sampled calls get an INTERNAL call span that attempt
   * spans hang under; an unsampled root gets fresh unsampled IDs injected once.
   */
  startOutbound(call: CallInfo): TracedCall;
  /** Outbound, per attempt of a sampled call: starts the CLIENT span and injects its IDs. */
  startAttempt(call: CallInfo, traced: TracedCall): Span;
  /** Ends a span with the call's final status and the semconv status attributes. */
  endSpan(span: Span, kind: SpanKind, end: CallEnd): void;
  /** Exports what is queued; resolves even when the export fails (failures are counted and logged). */
  forceFlush(): Promise<void>;
  /** Flushes and stops the exporter (drain). Idempotent. */
  shutdown(): Promise<void>;
}

/** The span name of a call: `package.Service/Method` (semconv RPC span name). */
function spanName(call: CallInfo): string {
  return call.path.length > 1 ? call.path.slice(1) : 'unknown';
}

/**
 * Builds the tracer provider (not registered globally: several sidecars may share a process in tests) with an
 * always-on SDK sampler, since meshlet makes the parent-based ratio decision itself before calling the SDK.
 */
export function createTracing(options: TracingOptions): Tracing {
  const ratio = Math.min(1, Math.max(0, options.sampleRatio));
  const random = options.random ?? Math.random;
  const extractMask = formatMask(options.propagation);
  const primaryMask = formatMask(options.propagation.slice(0, 1));
  const exporter = countingExporter(
    options.exporter ??
      new OTLPTraceExporter({
        url: options.endpoint,
        headers: { ...options.headers },
        timeoutMillis: options.exportTimeoutMs ?? 10_000,
      }),
    options,
  );
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    sampler: new AlwaysOnSampler(),
    spanProcessors: [
      new BatchSpanProcessor(exporter, {
        scheduledDelayMillis: options.batchDelayMs ?? 5000,
        exportTimeoutMillis: options.exportTimeoutMs ?? 10_000,
        maxQueueSize: options.maxQueueSize ?? 2048,
        maxExportBatchSize: Math.min(512, options.maxQueueSize ?? 2048),
      }),
    ],
  });
  const tracer: Tracer = provider.getTracer('meshlet', options.version);
  let shutdown: Promise<void> | undefined;

  /** Parent-based: a parent's decision is followed; without one (or deferred), the ratio decides. */
  const decide = (parent: RemoteParent | undefined, deny: boolean): boolean => {
    if (parent?.sampled !== undefined) return parent.sampled;
    if (deny) return false;
    return ratio >= 1 || (ratio > 0 && random() < ratio);
  };

  const parentContext = (parent: RemoteParent | undefined): Context => {
    if (parent === undefined) return ROOT_CONTEXT;
    return trace.setSpanContext(ROOT_CONTEXT, {
      traceId: parent.traceId,
      spanId: parent.spanId,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
      ...(parent.traceState !== undefined && { traceState: new TraceState(parent.traceState) }),
    });
  };

  const baseAttributes = (call: CallInfo, span: Span): void => {
    span.setAttribute(ATTR.RPC_SYSTEM, 'grpc');
    span.setAttribute(ATTR.RPC_SERVICE, call.service);
    span.setAttribute(ATTR.RPC_METHOD, call.method);
    span.setAttribute(ATTR.DIRECTION, call.direction);
    if (call.peer.identity !== undefined) span.setAttribute(ATTR.PEER_IDENTITY, call.peer.identity);
  };

  const startTime = (call: CallInfo): number => performance.timeOrigin + call.startMs;

  /**
   * Reads the incoming trace context and takes the sampling decision, shared by server and outbound calls. An
   * unsampled call is finished here (pass-through: the app sees the parent's IDs and decision; a root gets fresh
   * unsampled IDs) and returned as a TracedCall; a sampled one returns its parent and the formats to inject.
   */
  const begin = (call: CallInfo): TracedCall | { readonly parent: RemoteParent | undefined; readonly mask: number } => {
    const ex = extract(call.headers, extractMask);
    const parent = ex.parent;
    const mask = (ex.present & extractMask) | primaryMask;
    if (decide(parent, ex.deny)) return { parent, mask };
    if (parent !== undefined) return new TracedCall(parent.traceId, false, parent, 0);
    const traced = new TracedCall(newTraceId(), false, undefined, mask);
    traced.spanId = newSpanId();
    inject(call.editHeaders(), { traceId: traced.traceId, spanId: traced.spanId, sampled: false, parentSpanId: undefined }, mask);
    return traced;
  };

  return {
    extractMask,

    startServer(call) {
      const started = begin(call);
      if (started instanceof TracedCall) return started;
      const { parent, mask } = started;
      const span = tracer.startSpan(spanName(call), { kind: SpanKind.SERVER, startTime: startTime(call) }, parentContext(parent));
      baseAttributes(call, span);
      span.setAttribute(ATTR.NETWORK_PEER_ADDRESS, call.peer.address);
      span.setAttribute(ATTR.NETWORK_PEER_PORT, call.peer.port);
      const sc = span.spanContext();
      const traced = new TracedCall(sc.traceId, true, parent, mask);
      traced.spanId = sc.spanId;
      traced.span = span;
      inject(call.editHeaders(), { traceId: sc.traceId, spanId: sc.spanId, sampled: true, parentSpanId: parent?.spanId }, mask);
      return traced;
    },

    startOutbound(call) {
      const started = begin(call);
      if (started instanceof TracedCall) return started;
      const { parent, mask } = started;
      const span = tracer.startSpan(spanName(call), { kind: SpanKind.INTERNAL, startTime: startTime(call) }, parentContext(parent));
      baseAttributes(call, span);
      const sc = span.spanContext();
      const traced = new TracedCall(sc.traceId, true, parent, mask);
      traced.spanId = sc.spanId;
      traced.span = span;
      traced.spanContext = trace.setSpan(ROOT_CONTEXT, span);
      return traced;
    },

    startAttempt(call, traced) {
      const callSpan = traced.span;
      const span = tracer.startSpan(spanName(call), { kind: SpanKind.CLIENT }, traced.spanContext ?? parentContext(traced.parent));
      baseAttributes(call, span);
      span.setAttribute(ATTR.ATTEMPT, call.attempts + 1);
      if (call.backend !== undefined) span.setAttribute(ATTR.UPSTREAM, call.backend);
      const endpoint = call.endpoint;
      if (endpoint !== undefined) {
        const colon = endpoint.lastIndexOf(':');
        const host = endpoint.slice(0, colon);
        span.setAttribute(ATTR.SERVER_ADDRESS, host.startsWith('[') ? host.slice(1, -1) : host);
        span.setAttribute(ATTR.SERVER_PORT, Number(endpoint.slice(colon + 1)));
      }
      const sc = span.spanContext();
      traced.spanId = sc.spanId;
      const parentSpanId = callSpan?.spanContext().spanId;
      inject(call.editHeaders(), { traceId: sc.traceId, spanId: sc.spanId, sampled: true, parentSpanId }, traced.injectMask);
      return span;
    },

    endSpan(span, kind, end) {
      span.setAttribute(ATTR.RPC_GRPC_STATUS_CODE, end.status);
      if (end.error !== undefined) span.setAttribute(ATTR.ERROR_CODE, end.error.code);
      const isError = kind === SpanKind.SERVER ? SERVER_ERROR_CODES.has(end.status) : end.status !== 0;
      if (isError) span.setStatus({ code: SpanStatusCode.ERROR, ...(end.message !== undefined && { message: safeDecode(end.message) }) });
      span.end();
    },

    forceFlush() {
      // A failed export was already counted and logged by the exporter wrapper.
      return provider.forceFlush().catch(() => undefined);
    },

    shutdown() {
      shutdown ??= provider.shutdown().catch((err: unknown) => {
        options.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'tracing: shutdown failed');
      });
      return shutdown;
    },
  };
}

/** grpc-message is percent-encoded on the wire; spans carry the text. */
function safeDecode(message: string): string {
  try {
    return decodeURIComponent(message);
  } catch {
    return message;
  }
}

/**
 * Wraps an exporter to count exported and failed spans, and to warn (at most once a minute) when the collector
 * is unreachable: a degraded path gets a log and a metric, never silence.
 */
function countingExporter(inner: SpanExporter, options: TracingOptions): SpanExporter {
  let lastWarnMs = -Infinity;
  return {
    export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
      inner.export(spans, (result) => {
        const ok = result.code === ExportResultCode.SUCCESS;
        options.onExport?.(spans.length, ok);
        if (!ok) {
          const now = performance.now();
          if (now - lastWarnMs >= 60_000) {
            lastWarnMs = now;
            const fields = { endpoint: options.endpoint, spans: spans.length, err: result.error?.message };
            options.log.warn(fields, 'tracing: span export failed; spans dropped');
          }
        }
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

export { SpanKind };
