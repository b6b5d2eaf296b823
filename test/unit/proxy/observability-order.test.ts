// SPDX-License-Identifier: Apache-2.0
// Where the issue-5 layers sit in the real chains, observed over stub terminals: metrics counts calls while
// endpoint-metrics counts attempts (retry sits between them); each attempt carries its own client span's IDs under
// the call span; inbound, health answers below metrics and above the app, tracing is below access-log (which logs
// its IDs), and metrics is below rescue (meshlet-made errors are counted).

import { PassThrough, Writable } from 'node:stream';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Backends } from '../../../src/balance/backends.js';
import { getPolicy } from '../../../src/balance/policies.js';
import { setup as setupRoundRobin } from '../../../src/balance/round-robin.js';
import { endpointFromAddress, type Resolver } from '../../../src/discovery/resolver.js';
import { ProxyError } from '../../../src/errors.js';
import type { HealthService } from '../../../src/health/service.js';
import { PolicyStore } from '../../../src/policy/store.js';
import { BackendStates } from '../../../src/resilience/backend-state.js';
import { ProxyCall } from '../../../src/proxy/call.js';
import type { SessionPool } from '../../../src/h2/session-pool.js';
import { inboundLayers } from '../../../src/proxy/inbound.js';
import { compose, type Handler } from '../../../src/proxy/layer.js';
import { outboundLayers } from '../../../src/proxy/outbound.js';
import { RequestBody } from '../../../src/proxy/request-body.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { createMetrics } from '../../../src/telemetry/metrics.js';
import { parseTraceparent } from '../../../src/telemetry/propagation.js';
import { createTracing, SpanKind, type Tracing } from '../../../src/telemetry/tracing.js';
import { backendFromAuthority } from '../../../src/proxy/layers/route.js';
import { makeCall, policy, trailersOnly } from './layers/resilience-harness.js';
import { upstreamHeaders } from '../../helpers/upstream-headers.js';

const silent = createLogger({ level: 'silent' });
const pool = undefined as unknown as SessionPool;
let backends: Backends;
let tracing: Tracing;
let exporter: InMemorySpanExporter;

beforeEach(() => {
  setupRoundRobin();
  const resolver: Resolver = {
    kind: 'test',
    watch: (_name, onResult) => {
      queueMicrotask(() => onResult({ ok: true, endpoints: ['10.0.0.1:80', '10.0.0.2:80'].map((a) => endpointFromAddress(a)) }));
      return { close: () => {} };
    },
  };
  backends = new Backends({
    resolver,
    isKnown: () => true,
    balancingFor: () => ({ policy: getPolicy('round_robin'), options: {}, hashHeader: undefined }),
    env: { random: () => 0, now: () => performance.now() },
    log: silent,
  });
  exporter = new InMemorySpanExporter();
  tracing = createTracing({ serviceName: 's', sampleRatio: 1, propagation: ['tracecontext'], endpoint: 'http://unused', exporter, log: silent });
});
afterEach(async () => {
  backends.close();
  await tracing.shutdown();
});

describe('outbound chain: observability layers', () => {
  it('counts one call but two attempts when retry re-sends, and gives each attempt its own client span', async () => {
    const metrics = createMetrics({ serviceName: 'local', upstreamOf: backendFromAuthority });
    const states = new BackendStates(new PolicyStore(policy('routes: []\n')), { random: () => 0 });
    const sent: Array<string | undefined> = [];
    const terminal: Handler = (c) => {
      sent.push(upstreamHeaders(c).traceparent as string | undefined);
      return sent.length === 1
        ? Promise.reject(new ProxyError('ERR_UPSTREAM_REFUSED_STREAM', 'refused', { neverReachedApp: true }))
        : Promise.resolve(trailersOnly(0));
    };
    const layers = outboundLayers({ backends, pool, log: silent, accessLog: false, states, metrics: { calls: metrics.calls.outbound, attempts: metrics.attempts }, tracing });
    const c = makeCall('a');
    const reply = await compose(layers, terminal)(c);
    expect(reply.end?.status).toBe(0);
    const series = metrics.calls.outbound.series(c);
    expect([series.started, series.handled[0]]).toEqual([1, 1]);
    const attempts = metrics.attempts.series('a');
    expect([attempts.byCode[14], attempts.byCode[0]]).toEqual([1, 1]);
    await tracing.forceFlush();
    const spans = exporter.getFinishedSpans();
    const callSpan = spans.find((s) => s.kind === SpanKind.INTERNAL);
    const clientSpans = spans.filter((s) => s.kind === SpanKind.CLIENT);
    expect(clientSpans).toHaveLength(2);
    expect(clientSpans.every((s) => s.parentSpanContext?.spanId === callSpan?.spanContext().spanId)).toBe(true);
    expect(sent.map((h) => parseTraceparent(h as string)?.spanId)).toEqual(clientSpans.map((s) => s.spanContext().spanId));
  });
});

describe('inbound chain: observability layers', () => {
  const health: HealthService = {
    knows: () => true,
    check: async () => 'SERVING',
    current: () => 'SERVING',
    reason: () => undefined,
    watch: () => () => {},
    refresh: () => {},
    shutdown: () => {},
  };

  function inbound(path: string, headers: Record<string, string> = {}): ProxyCall {
    return new ProxyCall('inbound', { ':path': path, ':authority': 'svc', ...headers }, new RequestBody(new PassThrough()), { address: '127.0.0.1', port: 1, identity: undefined }, performance.now());
  }

  it('answers health below metrics and above the app; logs trace IDs set below access-log; counts meshlet-made errors', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({
      level: 'info',
      destination: new Writable({
        write(chunk: Buffer, _e, cb) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          cb();
        },
      }),
    });
    const metrics = createMetrics({ serviceName: 'svc', upstreamOf: backendFromAuthority });
    let appCalls = 0;
    const handler = compose(inboundLayers({ service: 'svc', appAddress: '127.0.0.1:1', pool, log, accessLog: true, metrics: metrics.calls.inbound, tracing, health }), () => {
      appCalls++;
      return Promise.resolve(trailersOnly(0));
    });
    // A health Check with an empty request message: answered without the app, and counted.
    const probe = inbound('/grpc.health.v1.Health/Check');
    const answered = handler(probe);
    (probe.body as unknown as { source: PassThrough }).source.end(Buffer.from([0, 0, 0, 0, 0]));
    const reply = await answered;
    expect(reply.trailers).toEqual({ 'grpc-status': '0' });
    reply.body?.resume();
    await new Promise((resolve) => reply.onEnd(resolve));
    expect(appCalls).toBe(0);
    expect(metrics.calls.inbound.series(probe).handled[0]).toBe(1);
    // A data call: traced, and the access log carries the server span's IDs.
    const data = inbound('/a.S/M');
    await handler(data);
    expect(appCalls).toBe(1);
    const access = lines.find((l) => l.access === true && l.grpc_method === 'M');
    expect(access?.trace_id).toBe(parseTraceparent(upstreamHeaders(data).traceparent as string)?.traceId);
    expect(access?.span_id).toBe(parseTraceparent(upstreamHeaders(data).traceparent as string)?.spanId);
    // A meshlet-made error below metrics (a malformed grpc-timeout, rejected by deadline) is counted as INTERNAL.
    const bad = inbound('/a.S/M', { 'grpc-timeout': 'soon' });
    const badReply = await handler(bad);
    expect(badReply.headers['x-meshlet-error']).toBe('ERR_BAD_REQUEST');
    expect(metrics.calls.inbound.series(bad).handled[13]).toBe(1);
  });
});
