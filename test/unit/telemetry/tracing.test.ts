// SPDX-License-Identifier: Apache-2.0
// Tracing decisions and spans: parent-based ratio sampling, SERVER spans inbound, INTERNAL call span and CLIENT
// attempt spans outbound, semconv attributes, header injection, pass-through of unsampled calls, export counting.

import { PassThrough } from 'node:stream';
import { ExportResultCode } from '@opentelemetry/core';
import { InMemorySpanExporter, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ProxyError } from '../../../src/errors.js';
import { ProxyCall } from '../../../src/proxy/call.js';
import { RequestBody } from '../../../src/proxy/request-body.js';
import { parseTraceparent } from '../../../src/telemetry/propagation.js';
import { createTracing, SpanKind, type Tracing, type TracingOptions } from '../../../src/telemetry/tracing.js';
import { upstreamHeaders } from '../../helpers/upstream-headers.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const silent = pino({ level: 'silent' });

function call(direction: 'inbound' | 'outbound', headers: Record<string, string> = {}): ProxyCall {
  return new ProxyCall(direction, { ':path': '/user.v1.UserService/GetUser', ':authority': 'user-service', ...headers }, new RequestBody(new PassThrough()), { address: '10.0.0.9', port: 41000, identity: 'spiffe://mesh/ns/a/sa/b' }, performance.now());
}

let tracing: Tracing | undefined;
afterEach(async () => {
  await tracing?.shutdown();
  tracing = undefined;
});

function setup(o: Partial<TracingOptions> = {}): { tracing: Tracing; exporter: InMemorySpanExporter; spans: () => Promise<ReadableSpan[]> } {
  const exporter = new InMemorySpanExporter();
  tracing = createTracing({ serviceName: 'svc', sampleRatio: 1, propagation: ['tracecontext', 'b3', 'b3multi'], endpoint: 'http://unused', exporter, log: silent, batchDelayMs: 100, ...o });
  const t = tracing;
  return {
    tracing: t,
    exporter,
    spans: async () => {
      await t.forceFlush();
      return exporter.getFinishedSpans();
    },
  };
}

const ok = { status: 0, message: undefined, error: undefined };

describe('inbound SERVER span', () => {
  it('is a child of the remote parent, carries semconv attributes, and is what the app sees', async () => {
    const { tracing: t, spans } = setup();
    const c = call('inbound', { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'v=1' });
    const traced = t.startServer(c);
    expect(traced.sampled).toBe(true);
    t.endSpan(traced.span!, SpanKind.SERVER, { status: 5, message: 'not%20here', error: undefined });
    const [span] = await spans();
    expect(span?.kind).toBe(SpanKind.SERVER);
    expect(span?.name).toBe('user.v1.UserService/GetUser');
    expect(span?.spanContext().traceId).toBe(TRACE);
    expect(span?.parentSpanContext?.spanId).toBe(PARENT);
    expect(span?.spanContext().traceState?.serialize()).toBe('v=1');
    expect(span?.attributes).toMatchObject({
      'rpc.system': 'grpc',
      'rpc.service': 'user.v1.UserService',
      'rpc.method': 'GetUser',
      'rpc.grpc.status_code': 5,
      'network.peer.address': '10.0.0.9',
      'network.peer.port': 41000,
      'meshlet.peer.identity': 'spiffe://mesh/ns/a/sa/b',
    });
    expect(span?.status.code).toBe(0); // NOT_FOUND is not a server error (semconv)
    // The app receives this hop's span as its parent.
    expect(parseTraceparent(upstreamHeaders(c).traceparent as string)).toEqual({ traceId: TRACE, spanId: span?.spanContext().spanId, sampled: true });
    expect(upstreamHeaders(c).tracestate).toBe('v=1');
  });

  it('marks server-side errors (UNAVAILABLE) with an error status and the meshlet error code', async () => {
    const { tracing: t, spans } = setup();
    const traced = t.startServer(call('inbound'));
    const err = new ProxyError('ERR_NO_ENDPOINTS', 'no ready endpoint');
    t.endSpan(traced.span!, SpanKind.SERVER, { status: err.grpcStatus, message: err.message, error: err });
    const [span] = await spans();
    expect(span?.status).toEqual({ code: 2, message: 'no ready endpoint' });
    expect(span?.attributes['meshlet.error_code']).toBe('ERR_NO_ENDPOINTS');
  });

  it('passes an unsampled parent through untouched and records nothing', async () => {
    const { tracing: t, spans } = setup({ sampleRatio: 1 });
    const headers = { traceparent: `00-${TRACE}-${PARENT}-00`, b3: `${TRACE}-${PARENT}-0` };
    const c = call('inbound', headers);
    const traced = t.startServer(c);
    expect(traced).toMatchObject({ sampled: false, traceId: TRACE, spanId: undefined, span: undefined });
    expect(upstreamHeaders(c).traceparent).toBe(headers.traceparent);
    expect(upstreamHeaders(c).b3).toBe(headers.b3);
    expect(await spans()).toHaveLength(0);
  });

  it('gives an unsampled root fresh IDs with the flag off, so later hops make the same decision', async () => {
    const { tracing: t, spans } = setup({ sampleRatio: 0 });
    const c = call('inbound');
    const traced = t.startServer(c);
    const tp = parseTraceparent(upstreamHeaders(c).traceparent as string);
    expect(tp).toEqual({ traceId: traced.traceId, spanId: traced.spanId, sampled: false });
    expect(upstreamHeaders(c).b3).toBeUndefined(); // only the primary format when none arrived
    expect(await spans()).toHaveLength(0);
  });

  it('samples roots at the configured ratio and follows sampled parents regardless of it', () => {
    const draws = [0.05, 0.2];
    const { tracing: t } = setup({ sampleRatio: 0.1, random: () => draws.shift() ?? 0.99 });
    expect(t.startServer(call('inbound')).sampled).toBe(true); // 0.05 < 0.1
    expect(t.startServer(call('inbound')).sampled).toBe(false); // 0.2 >= 0.1
    expect(t.startServer(call('inbound', { traceparent: `00-${TRACE}-${PARENT}-01` })).sampled).toBe(true);
    expect(t.startServer(call('inbound', { b3: `${TRACE}-${PARENT}` })).sampled).toBe(false); // deferred: ratio (0.99)
  });

  it('responds in kind: rewrites the B3 headers that arrived, adds none that did not', () => {
    const { tracing: t } = setup();
    const c = call('inbound', { 'x-b3-traceid': TRACE, 'x-b3-spanid': PARENT, 'x-b3-sampled': '1' });
    const traced = t.startServer(c);
    expect(upstreamHeaders(c)['x-b3-spanid']).toBe(traced.spanId);
    expect(upstreamHeaders(c)['x-b3-parentspanid']).toBe(PARENT);
    expect(upstreamHeaders(c).traceparent).toBe(`00-${TRACE}-${traced.spanId}-01`);
    expect(upstreamHeaders(c).b3).toBeUndefined();
  });
});

describe('outbound spans', () => {
  it('makes one INTERNAL call span and one CLIENT span per attempt under it, each injected into its attempt', async () => {
    const { tracing: t, spans } = setup();
    const c = call('outbound', { traceparent: `00-${TRACE}-${PARENT}-01` });
    c.backend = 'user-service';
    const traced = t.startOutbound(c);
    c.endpoint = '10.1.0.1:6143';
    const first = t.startAttempt(c, traced);
    const firstHeader = upstreamHeaders(c).traceparent;
    c.attempts = 1;
    t.endSpan(first, SpanKind.CLIENT, { status: 14, message: 'down', error: undefined });
    c.endpoint = '[::1]:6143';
    const second = t.startAttempt(c, traced);
    c.attempts = 2;
    t.endSpan(second, SpanKind.CLIENT, ok);
    t.endSpan(traced.span!, SpanKind.INTERNAL, ok);
    const all = await spans();
    const callSpan = all.find((s) => s.kind === SpanKind.INTERNAL);
    const attempts = all.filter((s) => s.kind === SpanKind.CLIENT);
    expect(callSpan?.parentSpanContext?.spanId).toBe(PARENT);
    expect(attempts).toHaveLength(2);
    for (const a of attempts) {
      expect(a.spanContext().traceId).toBe(TRACE);
      expect(a.parentSpanContext?.spanId).toBe(callSpan?.spanContext().spanId);
    }
    expect(attempts.map((a) => a.attributes['meshlet.attempt'])).toEqual([1, 2]);
    expect(attempts[0]?.attributes).toMatchObject({ 'server.address': '10.1.0.1', 'server.port': 6143, 'meshlet.upstream': 'user-service', 'rpc.grpc.status_code': 14 });
    expect(attempts[1]?.attributes['server.address']).toBe('::1');
    expect(attempts[0]?.status.code).toBe(2); // any non-OK status is a client error
    expect(firstHeader).toBe(`00-${TRACE}-${attempts[0]?.spanContext().spanId}-01`);
    expect(upstreamHeaders(c).traceparent).toBe(`00-${TRACE}-${attempts[1]?.spanContext().spanId}-01`);
    expect(traced.spanId).toBe(attempts[1]?.spanContext().spanId);
  });
});

describe('export', () => {
  it('counts exported and failed spans and warns about failures', async () => {
    const results: Array<[number, boolean]> = [];
    let fail = true;
    const exporter: SpanExporter = {
      export: (spans, done) => done(fail ? { code: ExportResultCode.FAILED, error: new Error('collector down') } : { code: ExportResultCode.SUCCESS }),
      shutdown: () => Promise.resolve(),
    };
    const warnings: unknown[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
    const { tracing: t } = setup({ exporter: exporter as unknown as InMemorySpanExporter, log, onExport: (n, okay) => results.push([n, okay]) });
    t.endSpan(t.startServer(call('inbound')).span!, SpanKind.SERVER, ok);
    await t.forceFlush();
    fail = false;
    t.endSpan(t.startServer(call('inbound')).span!, SpanKind.SERVER, ok);
    t.endSpan(t.startServer(call('inbound')).span!, SpanKind.SERVER, ok);
    await t.forceFlush();
    expect(results).toEqual([
      [1, false],
      [2, true],
    ]);
    expect(warnings).toEqual([expect.objectContaining({ msg: 'tracing: span export failed; spans dropped', err: 'collector down' })]);
  });
});
