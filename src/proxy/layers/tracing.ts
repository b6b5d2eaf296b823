// SPDX-License-Identifier: Apache-2.0
// tracing: inbound, one SERVER span per call (tracingLayer); outbound, one INTERNAL span per call (tracingLayer)
// and one CLIENT span per attempt (attemptTracingLayer, below retry/balance so retries are separate spans). The
// trace IDs go on the call (traceKey) for the access log. None of these layers is in the chain when tracing is off.
// Health checks (grpc.health.v1) are not traced: probes every few seconds would only be noise.

import { ProxyError, toProxyError } from '../../errors.js';
import { traceKey } from '../../telemetry/propagation.js';
import { SPAN_KIND, TracedCall } from '../../telemetry/traced-call.js';
// Types only: the OpenTelemetry SDK behind them is loaded just when tracing is on.
import type { Tracing } from '../../telemetry/tracing.js';
import type { ProxyCall, ProxyReply } from '../call.js';
import type { CallEnd } from '../../grpc/call.js';
import type { Layer } from '../layer.js';
import { isHealthPath } from './health.js';

function endOf(err: unknown): CallEnd {
  const e = err instanceof ProxyError ? err : toProxyError(err);
  return { status: e.grpcStatus, message: e.message, error: e };
}

/** The per-call span: SERVER for inbound, INTERNAL (the logical call, parent of the attempts) for outbound. */
export function tracingLayer(deps: { readonly tracing: Tracing }): Layer {
  const { tracing } = deps;
  return (next) => (call: ProxyCall) => {
    if (isHealthPath(call.path)) return next(call);
    const inbound = call.direction === 'inbound';
    const traced = inbound ? tracing.startServer(call) : tracing.startOutbound(call);
    call.set(traceKey, traced);
    const span = traced.span;
    if (span === undefined) return next(call);
    const kind = inbound ? SPAN_KIND.SERVER : SPAN_KIND.INTERNAL;
    return next(call).then(
      (reply: ProxyReply) => {
        reply.onEnd((end) => tracing.endSpan(span, kind, end));
        return reply;
      },
      (err: unknown) => {
        tracing.endSpan(span, kind, endOf(err));
        throw err;
      },
    );
  };
}

/** Outbound, per attempt: a CLIENT span whose IDs are injected into the request this attempt sends. */
export function attemptTracingLayer(deps: { readonly tracing: Tracing }): Layer {
  const { tracing } = deps;
  return (next) => (call: ProxyCall) => {
    const traced = call.get(traceKey);
    if (!(traced instanceof TracedCall) || !traced.sampled) return next(call);
    const span = tracing.startAttempt(call, traced);
    return next(call).then(
      (reply: ProxyReply) => {
        reply.onEnd((end) => tracing.endSpan(span, SPAN_KIND.CLIENT, end));
        return reply;
      },
      (err: unknown) => {
        tracing.endSpan(span, SPAN_KIND.CLIENT, endOf(err));
        throw err;
      },
    );
  };
}
