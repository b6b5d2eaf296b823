// SPDX-License-Identifier: Apache-2.0
// Trace-context propagation: W3C traceparent/tracestate and B3 single/multi, checked against the W3C spec's rules
// and for interoperability with OpenTelemetry's own propagators (what an instrumented app uses).

import { type IncomingHttpHeaders, sensitiveHeaders } from 'node:http2';
import { defaultTextMapGetter, defaultTextMapSetter, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import { describe, expect, it } from 'vitest';
import { extract, FORMAT_BIT, formatMask, inject, newSpanId, newTraceId, parseB3Single, parseTraceparent } from '../../../src/telemetry/propagation.js';
import { HeaderEdits, toHeaderList } from '../../../src/h2/headers.js';

const ALL = formatMask(['tracecontext', 'b3', 'b3multi']);
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

/** The headers as sent after `edits` (what forward does): the object of the resulting list, and its never-indexed names. */
function sent(h: IncomingHttpHeaders, edits: HeaderEdits): { headers: Record<string, string>; neverIndexed: readonly string[] | undefined } {
  const block = edits.apply(toHeaderList(h));
  const headers: Record<string, string> = {};
  for (let i = 0; i < block.list.length; i += 2) headers[block.list[i] as string] = block.list[i + 1] as string;
  return { headers, neverIndexed: block.neverIndexed };
}

describe('parseTraceparent', () => {
  it('reads trace ID, parent ID and the sampled flag of a version-00 header', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: false });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-03`)?.sampled).toBe(true);
  });

  it.each([
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['all-zero trace ID', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['all-zero parent ID', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['version 00 with extra fields', `00-${TRACE}-${SPAN}-01-extra`],
    ['short trace ID', `00-${TRACE.slice(1)}-${SPAN}-01`],
    ['wrong separators', `00_${TRACE}_${SPAN}_01`],
    ['non-hex flags', `00-${TRACE}-${SPAN}-0x`],
  ])('rejects %s', (_name, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  it('parses a future version by its version-00 prefix (forward compatibility)', () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01-whatever`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01x`)).toBeUndefined();
  });
});

describe('parseB3Single', () => {
  it('reads 128-bit and 64-bit trace IDs, with and without sampling state and parent', () => {
    expect(parseB3Single(`${TRACE}-${SPAN}-1`)).toMatchObject({ traceId: TRACE, spanId: SPAN, sampled: true, format: 'b3' });
    expect(parseB3Single(`a3ce929d0e0e4736-${SPAN}-0-05e3ac9a4f6e3b90`)).toMatchObject({ traceId: `0000000000000000a3ce929d0e0e4736`, sampled: false });
    expect(parseB3Single(`${TRACE}-${SPAN}`)).toMatchObject({ sampled: undefined });
    expect(parseB3Single(`${TRACE}-${SPAN}-d`)).toMatchObject({ sampled: true });
  });

  it('treats a lone "0" as deny and ignores malformed values', () => {
    expect(parseB3Single('0')).toEqual({ deny: true });
    expect(parseB3Single('1')).toBeUndefined();
    expect(parseB3Single(`${TRACE}-${SPAN}-x`)).toBeUndefined();
    expect(parseB3Single(`${TRACE}`)).toBeUndefined();
    expect(parseB3Single(`${TRACE}-zz`)).toBeUndefined();
  });
});

describe('extract', () => {
  it('lets W3C win when traceparent and B3 both arrive', () => {
    const headers: IncomingHttpHeaders = {
      traceparent: `00-${TRACE}-${SPAN}-01`,
      tracestate: 'vendor=x',
      b3: `${'1'.repeat(32)}-${'2'.repeat(16)}-0`,
      'x-b3-traceid': '3'.repeat(32),
      'x-b3-spanid': '4'.repeat(16),
    };
    const ex = extract(headers, ALL);
    expect(ex.parent).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true, traceState: 'vendor=x', format: 'tracecontext' });
    expect(ex.present).toBe(ALL);
  });

  it('falls through an invalid traceparent to B3 single, then to B3 multi', () => {
    const single = extract({ traceparent: 'garbage', b3: `${TRACE}-${SPAN}-1` }, ALL);
    expect(single.parent?.format).toBe('b3');
    const multi = extract({ 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-sampled': 'true' }, ALL);
    expect(multi.parent).toMatchObject({ traceId: TRACE, spanId: SPAN, sampled: true, format: 'b3multi' });
    expect(extract({ 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-flags': '1' }, ALL).parent?.sampled).toBe(true);
  });

  it('ignores formats that are not configured', () => {
    const ex = extract({ b3: `${TRACE}-${SPAN}-1` }, FORMAT_BIT.tracecontext);
    expect(ex.parent).toBeUndefined();
    expect(ex.present).toBe(0);
  });

  it('reports a sampling-only deny', () => {
    expect(extract({ b3: '0' }, ALL)).toMatchObject({ parent: undefined, deny: true });
    expect(extract({ 'x-b3-sampled': '0' }, ALL)).toMatchObject({ parent: undefined, deny: true });
  });

  it('does not take tracestate without a valid traceparent', () => {
    expect(extract({ tracestate: 'a=b', b3: `${TRACE}-${SPAN}-1` }, ALL).parent?.traceState).toBeUndefined();
  });
});

describe('inject', () => {
  const ids = { traceId: TRACE, spanId: SPAN, sampled: true, parentSpanId: '05e3ac9a4f6e3b90' };

  it('writes traceparent, never HPACK-indexed, and leaves tracestate as it arrived', () => {
    const h: IncomingHttpHeaders = { tracestate: 'congo=t61rcWkgMzE', traceparent: '00-old' };
    const edits = new HeaderEdits();
    inject(edits, ids, FORMAT_BIT.tracecontext);
    inject(edits, ids, FORMAT_BIT.tracecontext); // a retry re-injects: still one entry
    expect(sent(h, edits)).toEqual({ headers: { traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'congo=t61rcWkgMzE' }, neverIndexed: ['traceparent'] });
  });

  it('adds to the sensitive headers that arrived rather than replacing them', () => {
    const h = { authorization: 'x', [sensitiveHeaders]: ['authorization'] } as IncomingHttpHeaders;
    const edits = new HeaderEdits();
    inject(edits, ids, FORMAT_BIT.tracecontext | FORMAT_BIT.b3);
    expect(sent(h, edits).neverIndexed).toEqual(['authorization', 'traceparent', 'b3']);
  });

  it('rewrites every B3 multi header and drops x-b3-flags', () => {
    const h: IncomingHttpHeaders = { 'x-b3-flags': '1', 'x-b3-parentspanid': 'ffffffffffffffff' };
    const edits = new HeaderEdits();
    inject(edits, { ...ids, parentSpanId: undefined, sampled: false }, FORMAT_BIT.b3multi);
    expect(sent(h, edits)).toEqual({ headers: { 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-sampled': '0' }, neverIndexed: ['x-b3-spanid'] });
  });

  it('is read back by OpenTelemetry W3C and B3 propagators (what instrumented apps use)', () => {
    const edits = new HeaderEdits();
    inject(edits, ids, ALL);
    const h = sent({}, edits).headers;
    const w3c = trace.getSpanContext(new W3CTraceContextPropagator().extract(ROOT_CONTEXT, h, defaultTextMapGetter));
    expect(w3c).toMatchObject({ traceId: TRACE, spanId: SPAN, traceFlags: TraceFlags.SAMPLED });
    const b3single = trace.getSpanContext(new B3Propagator().extract(ROOT_CONTEXT, { b3: h.b3 }, defaultTextMapGetter));
    expect(b3single).toMatchObject({ traceId: TRACE, spanId: SPAN, traceFlags: TraceFlags.SAMPLED });
    const multi = { 'x-b3-traceid': h['x-b3-traceid'], 'x-b3-spanid': h['x-b3-spanid'], 'x-b3-sampled': h['x-b3-sampled'] };
    const b3multi = trace.getSpanContext(new B3Propagator().extract(ROOT_CONTEXT, multi, defaultTextMapGetter));
    expect(b3multi).toMatchObject({ traceId: TRACE, spanId: SPAN, traceFlags: TraceFlags.SAMPLED });
  });

  it('reads what OpenTelemetry propagators write', () => {
    const ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE, spanId: SPAN, traceFlags: TraceFlags.SAMPLED, isRemote: false });
    for (const [propagator, format] of [
      [new W3CTraceContextPropagator(), 'tracecontext'],
      [new B3Propagator({ injectEncoding: B3InjectEncoding.SINGLE_HEADER }), 'b3'],
      [new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER }), 'b3multi'],
    ] as const) {
      const carrier: Record<string, string> = {};
      propagator.inject(ctx, carrier, defaultTextMapSetter);
      expect(extract(carrier, ALL).parent, format).toMatchObject({ traceId: TRACE, spanId: SPAN, sampled: true, format });
    }
  });
});

describe('IDs', () => {
  it('generates lower-case hex IDs of the right length that the parser accepts', () => {
    for (let i = 0; i < 100; i++) {
      const t = newTraceId();
      const s = newSpanId();
      expect(parseTraceparent(`00-${t}-${s}-01`)).toEqual({ traceId: t, spanId: s, sampled: true });
    }
  });
});
