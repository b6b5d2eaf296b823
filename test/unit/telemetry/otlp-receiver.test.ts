// SPDX-License-Identifier: Apache-2.0
// The in-process OTLP receiver used by the tracing tests decodes both OTLP/HTTP encodings the same way. The
// bodies come from OpenTelemetry's own serializers (@opentelemetry/otlp-transformer, which the OTLP exporter
// meshlet depends on uses), so the decoder is checked against the real wire format, not against itself.

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { decodeJsonTraces, decodeProtobufTraces, startOtlpReceiver } from '../../helpers/otlp-receiver.js';

function spans() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'svc' }), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('t');
  const parent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: new TraceState('a=1'),
  });
  const s = tracer.startSpan('x.S/M', { kind: SpanKind.CLIENT, attributes: { str: 'v', int: 42, dbl: 1.5, bool: true, arr: ['a', 'b'] } }, parent);
  s.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  s.end();
  tracer.startSpan('root', { kind: SpanKind.SERVER }).end();
  return exporter.getFinishedSpans();
}

describe('OTLP receiver decoding', () => {
  it('decodes JSON and protobuf bodies of the same spans identically', () => {
    const input = spans();
    const fromJson = decodeJsonTraces(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(input)));
    const fromProto = decodeProtobufTraces(Buffer.from(ProtobufTraceSerializer.serializeRequest(input) as Uint8Array));
    expect(fromProto).toEqual(fromJson);
    const [child, root] = fromJson;
    expect(child).toMatchObject({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      parentSpanId: '00f067aa0ba902b7',
      traceState: 'a=1',
      name: 'x.S/M',
      kind: 3,
      attributes: { str: 'v', int: 42, dbl: 1.5, bool: true, arr: ['a', 'b'] },
      status: { code: 2, message: 'boom' },
      resource: { 'service.name': 'svc' },
    });
    expect(child?.spanId).toBe(input[0]?.spanContext().spanId);
    expect(root).toMatchObject({ parentSpanId: '', kind: 2 });
    expect(root!.endTimeUnixNano >= root!.startTimeUnixNano).toBe(true);
  });

  it('accepts both content types over HTTP and can be told to fail', async () => {
    const r = await startOtlpReceiver();
    try {
      const input = spans();
      const post = (type: string, body: Uint8Array) => fetch(r.url, { method: 'POST', headers: { 'content-type': type }, body });
      expect((await post('application/x-protobuf', ProtobufTraceSerializer.serializeRequest(input) as Uint8Array)).status).toBe(200);
      expect((await post('application/json', JsonTraceSerializer.serializeRequest(input) as Uint8Array)).status).toBe(200);
      await r.waitFor((s) => s.length === 4);
      expect(r.contentTypes).toEqual(['application/x-protobuf', 'application/json']);
      r.failNext(1, 503);
      expect((await post('application/json', JsonTraceSerializer.serializeRequest(input) as Uint8Array)).status).toBe(503);
      expect(r.spans).toHaveLength(4);
    } finally {
      await r.close();
    }
  });
});
