// SPDX-License-Identifier: Apache-2.0
// Tracing through two sidecars into an in-process OTLP/HTTP receiver (standing in for Jaeger): one trace with
// correctly parented spans (outbound call span → client attempt span → inbound server span), the app sees the
// propagated context, retries are separate client spans, unsampled calls still propagate a decision, and the
// access log carries trace_id/span_id.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { parseTraceparent } from '../../src/telemetry/propagation.js';
import { startEcho, unary, type EchoClient, type EchoServer } from '../helpers/echo.js';
import { type ReceivedSpan, SPAN_KIND, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import type { Sidecar } from '../helpers/sidecar.js';
import { useScoped } from '../helpers/scoped.js';

const { defer, sidecar, client } = useScoped();

interface Mesh {
  receiver: OtlpReceiver;
  echo: EchoServer;
  a: Sidecar;
  b: Sidecar;
  c: EchoClient;
}

async function mesh(sampleRatio: number, policyFile?: string): Promise<Mesh> {
  const receiver = await startOtlpReceiver();
  defer(() => receiver.close());
  const echo = await startEcho();
  defer(() => echo.close());
  const tracing = { mode: 'on' as const, sampleRatio, endpoint: receiver.url, batchDelayMs: 100 };
  const b = await sidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: echo.address }, tracing });
  const a = await sidecar({
    service: { name: 'caller' },
    outbound: { listen: '127.0.0.1:0' },
    upstreams: { echo: { endpoints: [b.inbound as string] } },
    tracing,
    ...(policyFile !== undefined && { policy: { file: policyFile, reloadDebounceMs: 0 } }),
  });
  return { receiver, echo, a, b, c: client(a.outbound as string, 'echo:6140') };
}

const byKind = (spans: readonly ReceivedSpan[], kind: number) => spans.filter((s) => s.kind === kind);

describe('tracing through two sidecars', () => {
  it('yields one trace: call span → client span → server span, and the app sees the server span as parent', async () => {
    const m = await mesh(1);
    const r = await unary(m.c, Buffer.from('hi'));
    expect(r.err).toBeNull();
    await m.receiver.waitFor((s) => s.length >= 3);
    const spans = m.receiver.spans;
    expect(spans).toHaveLength(3);
    const [callSpan] = byKind(spans, SPAN_KIND.INTERNAL);
    const [clientSpan] = byKind(spans, SPAN_KIND.CLIENT);
    const [serverSpan] = byKind(spans, SPAN_KIND.SERVER);
    expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
    expect(callSpan?.parentSpanId).toBe('');
    expect(clientSpan?.parentSpanId).toBe(callSpan?.spanId);
    expect(serverSpan?.parentSpanId).toBe(clientSpan?.spanId);
    for (const s of spans) {
      expect(s.name).toBe('test.Echo/Unary');
      expect(s.attributes).toMatchObject({ 'rpc.system': 'grpc', 'rpc.service': 'test.Echo', 'rpc.method': 'Unary', 'rpc.grpc.status_code': 0 });
      expect(s.endTimeUnixNano >= s.startTimeUnixNano).toBe(true);
    }
    expect(callSpan?.resource['service.name']).toBe('caller');
    expect(serverSpan?.resource['service.name']).toBe('echo');
    expect(clientSpan?.attributes).toMatchObject({ 'server.address': '127.0.0.1', 'meshlet.upstream': 'echo', 'meshlet.attempt': 1 });
    expect(serverSpan?.attributes['network.peer.address']).toBe('127.0.0.1');
    expect(m.receiver.contentTypes.every((t) => t === 'application/json')).toBe(true);
    // The app received the inbound sidecar's server span as its parent.
    const seen = parseTraceparent(String(m.echo.calls[0]?.metadata.get('traceparent')[0]));
    expect(seen).toEqual({ traceId: serverSpan?.traceId, spanId: serverSpan?.spanId, sampled: true });
    // Access logs carry the IDs: outbound the attempt span, inbound the server span.
    const accessA = m.a.logs.find((l) => l.access === true);
    const accessB = m.b.logs.find((l) => l.access === true);
    expect(accessA).toMatchObject({ trace_id: callSpan?.traceId, span_id: clientSpan?.spanId, retries: 0 });
    expect(accessB).toMatchObject({ trace_id: callSpan?.traceId, span_id: serverSpan?.spanId });
  });

  it('continues the trace of an instrumented app, W3C winning over B3 that arrives with it', async () => {
    const m = await mesh(0); // the app's sampled parent decides, not the ratio
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    const md = new grpc.Metadata();
    md.set('traceparent', `00-${traceId}-${parent}-01`);
    md.set('tracestate', 'app=1');
    md.set('b3', `${'a'.repeat(32)}-${'b'.repeat(16)}-0`);
    expect((await unary(m.c, Buffer.from('hi'), md)).err).toBeNull();
    await m.receiver.waitFor((s) => s.length >= 3);
    expect(m.receiver.spans.every((s) => s.traceId === traceId)).toBe(true);
    const [callSpan] = byKind(m.receiver.spans, SPAN_KIND.INTERNAL);
    const [serverSpan] = byKind(m.receiver.spans, SPAN_KIND.SERVER);
    expect(callSpan?.parentSpanId).toBe(parent);
    expect(callSpan?.traceState).toBe('app=1');
    const seen = m.echo.calls[0]?.metadata;
    expect(parseTraceparent(String(seen?.get('traceparent')[0]))).toEqual({ traceId, spanId: serverSpan?.spanId, sampled: true });
    expect(seen?.get('tracestate')).toEqual(['app=1']);
    // B3 arrived, so it is rewritten in kind: the same trace, this hop's span.
    expect(String(seen?.get('b3')[0])).toBe(`${traceId}-${serverSpan?.spanId}-1-${byKind(m.receiver.spans, SPAN_KIND.CLIENT)[0]?.spanId}`);
  });

  it('records each retry as a separate client span under the call span', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'meshlet-trace-'));
    defer(() => rm(dir, { recursive: true, force: true }));
    const policyFile = path.join(dir, 'policy.yaml');
    await writeFile(policyFile, 'backends:\n  echo:\n    retry: { retryOn: [unavailable], backoff: { baseMs: 1, maxMs: 1 } }\n');
    const m = await mesh(1, policyFile);
    const md = new grpc.Metadata();
    md.set('fail-until-attempt', '2');
    md.set('x-call-id', 'retry-1');
    expect((await unary(m.c, Buffer.from('hi'), md)).err).toBeNull();
    await m.receiver.waitFor((s) => byKind(s, SPAN_KIND.CLIENT).length >= 2 && byKind(s, SPAN_KIND.SERVER).length >= 2 && byKind(s, SPAN_KIND.INTERNAL).length >= 1);
    const [callSpan] = byKind(m.receiver.spans, SPAN_KIND.INTERNAL);
    const attempts = byKind(m.receiver.spans, SPAN_KIND.CLIENT).sort((x, y) => Number(x.attributes['meshlet.attempt']) - Number(y.attributes['meshlet.attempt']));
    expect(attempts.map((s) => s.parentSpanId)).toEqual([callSpan?.spanId, callSpan?.spanId]);
    expect(attempts.map((s) => s.attributes['meshlet.attempt'])).toEqual([1, 2]);
    expect(attempts.map((s) => s.attributes['rpc.grpc.status_code'])).toEqual([14, 0]);
    expect(attempts[0]?.status.code).toBe(2);
    const servers = byKind(m.receiver.spans, SPAN_KIND.SERVER);
    expect(new Set(servers.map((s) => s.parentSpanId))).toEqual(new Set(attempts.map((s) => s.spanId)));
    expect(m.a.logs.find((l) => l.access === true)).toMatchObject({ attempts: 2, retries: 1, span_id: attempts[1]?.spanId });
  });

  it('exports nothing for unsampled calls but still propagates one trace ID and the decision', async () => {
    const m = await mesh(0);
    expect((await unary(m.c, Buffer.from('hi'))).err).toBeNull();
    const seen = parseTraceparent(String(m.echo.calls[0]?.metadata.get('traceparent')[0]));
    expect(seen?.sampled).toBe(false);
    const accessA = m.a.logs.find((l) => l.access === true);
    const accessB = m.b.logs.find((l) => l.access === true);
    expect(accessA?.trace_id).toBe(seen?.traceId);
    expect(accessB?.trace_id).toBe(seen?.traceId);
    await m.a.app.observability.tracing?.forceFlush();
    await m.b.app.observability.tracing?.forceFlush();
    expect(m.receiver.spans).toHaveLength(0);
  });

  it('counts failed exports and keeps serving when the collector is down', async () => {
    const m = await mesh(1);
    m.receiver.failNext(1, 400); // not retryable (503 would be retried with backoff by the OTLP exporter)
    expect((await unary(m.c, Buffer.from('hi'))).err).toBeNull();
    await m.b.app.observability.tracing?.forceFlush();
    const text = await (await fetch(`http://${m.b.admin}/metrics`)).text();
    expect(text).toMatch(/^meshlet_tracing_spans_failed_total 1$/m);
    expect(m.b.logs.some((l) => l.msg === 'tracing: span export failed; spans dropped')).toBe(true);
  });
});

describe('tracing off', () => {
  it('adds no trace headers and no trace fields', async () => {
    const echo = await startEcho();
    defer(() => echo.close());
    const b = await sidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: echo.address } });
    expect((await unary(client(b.inbound as string), Buffer.from('x'))).err).toBeNull();
    expect(echo.calls[0]?.metadata.get('traceparent')).toEqual([]);
    expect(b.app.observability.tracing).toBeUndefined();
    const access = b.logs.find((l) => l.access === true);
    expect(access).toBeDefined();
    expect(access).not.toHaveProperty('trace_id');
  });
});
