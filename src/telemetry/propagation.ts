// SPDX-License-Identifier: Apache-2.0
// Trace-context propagation without the OpenTelemetry context machinery: extracts and injects W3C Trace Context
// (`traceparent`/`tracestate`) and B3 (single `b3` header and multi `x-b3-*` headers) on raw HTTP/2 headers.
// Used by the tracing layers (src/proxy/layers/tracing.ts); also defines the per-call trace record the access log
// reads, so the access log never imports OpenTelemetry.

import { randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http2';
import { contextKey, type HeaderWriter } from '../grpc/call.js';

/** A propagation format: W3C Trace Context, B3 single-header, B3 multi-header. */
export type PropagationFormat = 'tracecontext' | 'b3' | 'b3multi';

/** Bit flags of formats, as a cheap set. */
export const FORMAT_BIT: Readonly<Record<PropagationFormat, number>> = Object.freeze({ tracecontext: 1, b3: 2, b3multi: 4 });

/** A remote parent, as extracted from request headers. */
export interface RemoteParent {
  /** 32 lower-case hex digits, not all zero (a 64-bit B3 ID is left-padded with zeros). */
  readonly traceId: string;
  /** 16 lower-case hex digits, not all zero. */
  readonly spanId: string;
  /**
   * The upstream sampling decision: true/false, or undefined when the sender deferred it (B3 without a sampling
   * state), in which case the receiver decides as for a root.
   */
  readonly sampled: boolean | undefined;
  /** W3C `tracestate`, passed on unchanged; only taken together with a valid `traceparent`. */
  readonly traceState: string | undefined;
  readonly format: PropagationFormat;
}

/** What meshlet propagates for one hop (a server span, a client attempt, or an unsampled pass-through). */
export interface SpanIds {
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
  /** The span this one is a child of, written as `x-b3-parentspanid`; undefined for a root. */
  readonly parentSpanId: string | undefined;
}

/**
 * The trace of one call, attached to the call under {@link traceKey} by the tracing layer (when tracing is on) and
 * read by the access log (`trace_id`, `span_id`) and the attempt layer. Mutable: the attempt layer updates `spanId`.
 */
export interface CallTrace {
  readonly traceId: string;
  /** The span meshlet created for this hop (server span, or the latest client attempt); undefined when none. */
  spanId: string | undefined;
  readonly sampled: boolean;
  /** The remote parent, when the request carried one. */
  readonly parent: RemoteParent | undefined;
  /** Which formats to write on the request sent upstream (FORMAT_BIT flags). */
  readonly injectMask: number;
}

/** The call-context key of the call's {@link CallTrace}. */
export const traceKey = contextKey<CallTrace>('meshlet.trace');

const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

/** A version-00-shaped traceparent prefix: version, trace ID, parent ID and flags in lower-case hex. */
const TRACEPARENT_SHAPE = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}/;

function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Parses a W3C `traceparent` (Trace Context Level 1, §3.2). Version 00 must be exactly 55 characters; a higher
 * version is parsed by its version-00 prefix when the next character is '-' or the value ends (forward
 * compatibility, §4.3). Version ff, upper-case hex and all-zero IDs are invalid. Returns undefined when invalid.
 */
export function parseTraceparent(value: string): { traceId: string; spanId: string; sampled: boolean } | undefined {
  if (value.length < 55 || !TRACEPARENT_SHAPE.test(value) || value.startsWith('ff')) return undefined;
  if (value.startsWith('00') ? value.length !== 55 : value.length > 55 && value.charCodeAt(55) !== 45) return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  // The sampled flag is bit 0 of the flags byte: its last hex digit is odd.
  const last = value.charCodeAt(54);
  return { traceId, spanId, sampled: (last >= 97 ? last - 87 : last - 48) % 2 === 1 };
}

/** A B3 trace ID (16 or 32 hex) as 32 lower-case hex, or undefined. */
function b3TraceId(id: string): string | undefined {
  const v = id.toLowerCase();
  if (v.length === 32 && isLowerHex(v, 0, 32) && v !== ZERO_TRACE) return v;
  if (v.length === 16 && isLowerHex(v, 0, 16) && v !== ZERO_SPAN) return `0000000000000000${v}`;
  return undefined;
}

function b3SpanId(id: string): string | undefined {
  const v = id.toLowerCase();
  return v.length === 16 && isLowerHex(v, 0, 16) && v !== ZERO_SPAN ? v : undefined;
}

/** B3 sampling state: '1'/'d' (debug) sampled, '0' not, absent deferred; 'true'/'false' accepted (multi-header). */
function b3Sampled(v: string | undefined): boolean | undefined | null {
  if (v === undefined) return undefined;
  if (v === '1' || v === 'd' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  return null; // invalid
}

/**
 * Parses a B3 single header (`{traceId}-{spanId}[-{sampling}[-{parentSpanId}]]`, openzipkin/b3-propagation).
 * A sampling-only value (`0`, `1`, `d`) carries no IDs and returns `{ deny: true }` for `0` (the caller starts
 * an unsampled root) and undefined otherwise.
 */
export function parseB3Single(value: string): RemoteParent | { deny: true } | undefined {
  if (value.length <= 1) return value === '0' ? { deny: true } : undefined;
  const parts = value.split('-');
  if (parts.length < 2 || parts.length > 4) return undefined;
  const traceId = b3TraceId(parts[0] as string);
  const spanId = b3SpanId(parts[1] as string);
  const sampled = b3Sampled(parts[2]);
  if (traceId === undefined || spanId === undefined || sampled === null) return undefined;
  return { traceId, spanId, sampled, traceState: undefined, format: 'b3' };
}

function parseB3Multi(headers: IncomingHttpHeaders): RemoteParent | { deny: true } | undefined {
  const rawTrace = headerValue(headers, 'x-b3-traceid');
  const flags = headerValue(headers, 'x-b3-flags');
  const sampledRaw = flags === '1' ? '1' : headerValue(headers, 'x-b3-sampled')?.toLowerCase();
  if (rawTrace === undefined) return sampledRaw === '0' || sampledRaw === 'false' ? { deny: true } : undefined;
  const traceId = b3TraceId(rawTrace);
  const spanId = b3SpanId(headerValue(headers, 'x-b3-spanid') ?? '');
  const sampled = b3Sampled(sampledRaw);
  if (traceId === undefined || spanId === undefined || sampled === null) return undefined;
  return { traceId, spanId, sampled, traceState: undefined, format: 'b3multi' };
}

/** The result of {@link extract}. */
export interface Extracted {
  /** The parent, when a configured format carried a valid one. W3C wins over B3 single, which wins over B3 multi. */
  readonly parent: RemoteParent | undefined;
  /** True when a B3 header said "do not sample" without IDs: start an unsampled root. */
  readonly deny: boolean;
  /** The configured formats present on the request (FORMAT_BIT flags), valid or not: they are rewritten upstream. */
  readonly present: number;
}

const NOTHING: Extracted = Object.freeze({ parent: undefined, deny: false, present: 0 });

/**
 * Extracts the remote parent from request headers, trying only the formats in `mask` (FORMAT_BIT flags).
 * Precedence is fixed: `traceparent` (with its `tracestate`) wins when valid, then `b3`, then `x-b3-*`; an invalid
 * header of a higher format falls through to the next. Never throws. Allocation-free when no trace header is present.
 */
export function extract(headers: IncomingHttpHeaders, mask: number): Extracted {
  let present = 0;
  let parent: RemoteParent | undefined;
  let deny = false;
  if ((mask & 1) !== 0) {
    const tp = headerValue(headers, 'traceparent');
    if (tp !== undefined) {
      present |= 1;
      const parsed = parseTraceparent(tp);
      if (parsed !== undefined) {
        const ts = headers.tracestate;
        const traceState = ts === undefined ? undefined : Array.isArray(ts) ? ts.join(',') : ts;
        // A literal, not a spread: this runs for every traced call.
        parent = { traceId: parsed.traceId, spanId: parsed.spanId, sampled: parsed.sampled, traceState, format: 'tracecontext' };
      }
    }
  }
  if ((mask & 2) !== 0) {
    const b3 = headerValue(headers, 'b3');
    if (b3 !== undefined) {
      present |= 2;
      if (parent === undefined) {
        const parsed = parseB3Single(b3);
        if (parsed !== undefined && 'deny' in parsed) deny = true;
        else parent = parsed;
      }
    }
  }
  if ((mask & 4) !== 0 && (headers['x-b3-traceid'] !== undefined || headers['x-b3-sampled'] !== undefined || headers['x-b3-flags'] !== undefined)) {
    present |= 4;
    if (parent === undefined && !deny) {
      const parsed = parseB3Multi(headers);
      if (parsed !== undefined && 'deny' in parsed) deny = true;
      else parent = parsed;
    }
  }
  if (present === 0) return NOTHING;
  if (parent !== undefined) deny = false;
  return { parent, deny, present };
}

/**
 * Writes `ids` through `headers` (a call's HeaderEdits) in every format of `mask`. `traceparent` is version 00;
 * `tracestate` is left as it arrived (meshlet adds no vendor entry). B3 multi rewrites `x-b3-traceid`, `x-b3-spanid`,
 * `x-b3-sampled` and `x-b3-parentspanid` (removed for a root) and drops `x-b3-flags` (its debug bit is folded into
 * `x-b3-sampled`). The values that differ on every request are marked HPACK "never indexed": they would otherwise be
 * inserted into the connection's dynamic table each time and evict the entries that repeat (`:authority`,
 * `content-type`, `te`), making every following header block larger (RFC 7541 §7.1.3).
 */
export function inject(headers: HeaderWriter, ids: SpanIds, mask: number): void {
  if ((mask & 1) !== 0) headers.set('traceparent', `00-${ids.traceId}-${ids.spanId}-${ids.sampled ? '01' : '00'}`, true);
  if ((mask & 2) !== 0) {
    headers.set('b3', `${ids.traceId}-${ids.spanId}-${ids.sampled ? '1' : '0'}${ids.parentSpanId === undefined ? '' : `-${ids.parentSpanId}`}`, true);
  }
  if ((mask & 4) !== 0) {
    headers.set('x-b3-traceid', ids.traceId);
    headers.set('x-b3-spanid', ids.spanId, true);
    headers.set('x-b3-sampled', ids.sampled ? '1' : '0');
    if (ids.parentSpanId === undefined) headers.delete('x-b3-parentspanid');
    else headers.set('x-b3-parentspanid', ids.parentSpanId);
    headers.delete('x-b3-flags');
  }
}

/** FORMAT_BIT flags of a list of formats. */
export function formatMask(formats: readonly PropagationFormat[]): number {
  let m = 0;
  for (const f of formats) m |= FORMAT_BIT[f];
  return m;
}

// IDs come from a pool of random bytes refilled in blocks (one randomFillSync per 256 span IDs), hex-encoded by
// Buffer's native encoder: about 10x cheaper per ID than formatting Math.random() numbers.
const POOL = Buffer.allocUnsafe(4096);
let poolOffset = POOL.length;

function randomHex(bytes: number): string {
  if (poolOffset + bytes > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const id = POOL.toString('hex', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return id;
}

/** A random 64-bit span ID (16 hex digits, never all zero). */
export function newSpanId(): string {
  const id = randomHex(8);
  return id === ZERO_SPAN ? newSpanId() : id;
}

/** A random 128-bit trace ID (32 hex digits, never all zero). */
export function newTraceId(): string {
  const id = randomHex(16);
  return id === ZERO_TRACE ? newTraceId() : id;
}
