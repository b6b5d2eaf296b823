// SPDX-License-Identifier: Apache-2.0
// An in-process OTLP/HTTP trace receiver (POST /v1/traces) standing in for Jaeger's OTLP endpoint. Decodes
// ExportTraceServiceRequest bodies in either encoding the spec allows: JSON (application/json, IDs as hex) and
// protobuf (application/x-protobuf, decoded here by field number from opentelemetry-proto trace/v1/trace.proto),
// and keeps the spans for assertions.

import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type AttributeValue = string | number | boolean | AttributeValue[];

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  readonly status: { readonly code: number; readonly message: string };
  /** The resource's attributes (service.name, ...). */
  readonly resource: Readonly<Record<string, AttributeValue>>;
}

export const SPAN_KIND = Object.freeze({ INTERNAL: 1, SERVER: 2, CLIENT: 3 });

export interface OtlpReceiver {
  /** e.g. http://127.0.0.1:PORT/v1/traces */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Content types of the requests received. */
  readonly contentTypes: string[];
  /** Resolves once `predicate(spans)` holds (checked after every request); rejects after `timeoutMs`. */
  waitFor(predicate: (spans: readonly ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Answer the next `n` requests with HTTP `status` (to test export failures). */
  failNext(n: number, status?: number): void;
  close(): Promise<void>;
}

// ---- JSON (OTLP/JSON: proto3 JSON mapping, with trace and span IDs as hex strings) ----

interface JsonAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: JsonAnyValue[] };
}
interface JsonKeyValue {
  key: string;
  value?: JsonAnyValue;
}

function jsonValue(v: JsonAnyValue | undefined): AttributeValue {
  if (v === undefined) return '';
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(jsonValue);
  return '';
}

function jsonAttributes(list: JsonKeyValue[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of list ?? []) out[kv.key] = jsonValue(kv.value);
  return out;
}

export function decodeJsonTraces(body: string): ReceivedSpan[] {
  const req = JSON.parse(body) as {
    resourceSpans?: Array<{
      resource?: { attributes?: JsonKeyValue[] };
      scopeSpans?: Array<{
        spans?: Array<{
          traceId: string;
          spanId: string;
          parentSpanId?: string;
          traceState?: string;
          name: string;
          kind?: number;
          startTimeUnixNano?: string | number;
          endTimeUnixNano?: string | number;
          attributes?: JsonKeyValue[];
          status?: { code?: number; message?: string };
        }>;
      }>;
    }>;
  };
  const out: ReceivedSpan[] = [];
  for (const rs of req.resourceSpans ?? []) {
    const resource = jsonAttributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: s.traceId.toLowerCase(),
          spanId: s.spanId.toLowerCase(),
          parentSpanId: (s.parentSpanId ?? '').toLowerCase(),
          traceState: s.traceState ?? '',
          name: s.name,
          kind: s.kind ?? 0,
          startTimeUnixNano: BigInt(s.startTimeUnixNano ?? 0),
          endTimeUnixNano: BigInt(s.endTimeUnixNano ?? 0),
          attributes: jsonAttributes(s.attributes),
          status: { code: s.status?.code ?? 0, message: s.status?.message ?? '' },
          resource,
        });
      }
    }
  }
  return out;
}

// ---- protobuf (by field number; unknown fields skipped) ----

type Field = { n: number; wire: number; varint?: bigint; bytes?: Buffer; fixed?: Buffer };

function readVarint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (let i = pos; i < buf.length; i++) {
    const b = buf[i] as number;
    result |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if ((b & 0x80) === 0) return [result, i + 1];
  }
  throw new Error('truncated varint');
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [key, next] = readVarint(buf, pos);
    pos = next;
    const n = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, after] = readVarint(buf, pos);
      out.push({ n, wire, varint: v });
      pos = after;
    } else if (wire === 1) {
      out.push({ n, wire, fixed: buf.subarray(pos, pos + 8) });
      pos += 8;
    } else if (wire === 2) {
      const [len, after] = readVarint(buf, pos);
      const end = after + Number(len);
      if (end > buf.length) throw new Error('truncated field');
      out.push({ n, wire, bytes: buf.subarray(after, end) });
      pos = end;
    } else if (wire === 5) {
      out.push({ n, wire, fixed: buf.subarray(pos, pos + 4) });
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  return out;
}

function pbAnyValue(buf: Buffer): AttributeValue {
  for (const f of fields(buf)) {
    if (f.n === 1 && f.bytes) return f.bytes.toString('utf8');
    if (f.n === 2 && f.varint !== undefined) return f.varint !== 0n;
    if (f.n === 3 && f.varint !== undefined) return Number(BigInt.asIntN(64, f.varint));
    if (f.n === 4 && f.fixed) return f.fixed.readDoubleLE(0);
    if (f.n === 5 && f.bytes) return fields(f.bytes).filter((v) => v.n === 1 && v.bytes).map((v) => pbAnyValue(v.bytes as Buffer));
  }
  return '';
}

function pbAttributes(list: Buffer[]): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of list) {
    let key = '';
    let value: AttributeValue = '';
    for (const f of fields(kv)) {
      if (f.n === 1 && f.bytes) key = f.bytes.toString('utf8');
      if (f.n === 2 && f.bytes) value = pbAnyValue(f.bytes);
    }
    out[key] = value;
  }
  return out;
}

const sub = (fs: Field[], n: number): Buffer[] => fs.filter((f) => f.n === n && f.bytes !== undefined).map((f) => f.bytes as Buffer);

export function decodeProtobufTraces(body: Buffer): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of sub(fields(body), 1)) {
    const rsf = fields(rs);
    const resource = pbAttributes(sub(fields(sub(rsf, 1)[0] ?? Buffer.alloc(0)), 1));
    for (const ss of sub(rsf, 2)) {
      for (const span of sub(fields(ss), 2)) {
        const sf = fields(span);
        const bytes = (n: number) => sf.find((f) => f.n === n)?.bytes ?? Buffer.alloc(0);
        const fixed64 = (n: number) => sf.find((f) => f.n === n)?.fixed?.readBigUInt64LE(0) ?? 0n;
        const statusFields = fields(bytes(15));
        out.push({
          traceId: bytes(1).toString('hex'),
          spanId: bytes(2).toString('hex'),
          parentSpanId: bytes(4).toString('hex'),
          traceState: bytes(3).toString('utf8'),
          name: bytes(5).toString('utf8'),
          kind: Number(sf.find((f) => f.n === 6)?.varint ?? 0n),
          startTimeUnixNano: fixed64(7),
          endTimeUnixNano: fixed64(8),
          attributes: pbAttributes(sub(sf, 9)),
          status: {
            code: Number(statusFields.find((f) => f.n === 3)?.varint ?? 0n),
            message: statusFields.find((f) => f.n === 2)?.bytes?.toString('utf8') ?? '',
          },
          resource,
        });
      }
    }
  }
  return out;
}

/** Starts the receiver on 127.0.0.1, port 0. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const waiters = new Set<() => void>();
  let failures: { n: number; status: number } = { n: 0, status: 503 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      if (failures.n > 0) {
        failures.n--;
        res.writeHead(failures.status, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
      contentTypes.push(type);
      const body = Buffer.concat(chunks);
      try {
        spans.push(...(type === 'application/x-protobuf' ? decodeProtobufTraces(body) : decodeJsonTraces(body.toString('utf8'))));
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
        return;
      }
      // ExportTraceServiceResponse: empty means everything accepted.
      if (type === 'application/x-protobuf') res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      for (const w of [...waiters]) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    contentTypes,
    waitFor(predicate, timeoutMs = 5000) {
      if (predicate(spans)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`OTLP receiver: condition not met within ${timeoutMs} ms; have ${spans.length} spans: ${spans.map((s) => s.name).join(', ')}`));
        }, timeoutMs);
        const check = () => {
          if (!predicate(spans)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
    },
    failNext(n, status = 503) {
      failures = { n, status };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
