// SPDX-License-Identifier: Apache-2.0
// The two grpc.health.v1 messages, encoded and decoded by hand (grpc/grpc doc/health-checking.md; proto3 wire
// format). Both have one field, so a full protobuf runtime on the data path would be all cost and no benefit:
//   HealthCheckRequest  { string service = 1; }
//   HealthCheckResponse { ServingStatus status = 1; }   UNKNOWN 0, SERVING 1, NOT_SERVING 2, SERVICE_UNKNOWN 3

/** The wire enum. */
export const ServingStatus = Object.freeze({ UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 });
export type ServingStatusName = keyof typeof ServingStatus;
const NAMES: readonly ServingStatusName[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** The status name of a wire value; values outside the enum read as UNKNOWN (proto3 open enums). */
export function servingStatusName(value: number): ServingStatusName {
  return NAMES[value] ?? 'UNKNOWN';
}

/** Path of the two methods. */
export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
export const HEALTH_WATCH_PATH = '/grpc.health.v1.Health/Watch';

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** Prepends the gRPC 5-byte prefix (uncompressed). */
export function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/**
 * Splits a complete DATA payload into its messages. Throws on truncation or a compressed message (meshlet's health
 * endpoints never negotiate compression, so a compressed message is a protocol error).
 */
export function unframe(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < data.length) {
    if (data.length - i < 5) throw new Error('truncated gRPC message prefix');
    if (data[i] !== 0) throw new Error('compressed gRPC message not supported');
    const len = data.readUInt32BE(i + 1);
    if (data.length - i - 5 < len) throw new Error('truncated gRPC message');
    out.push(data.subarray(i + 5, i + 5 + len));
    i += 5 + len;
  }
  return out;
}

export function encodeHealthCheckRequest(service: string): Buffer {
  if (service === '') return Buffer.alloc(0);
  const bytes = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([0x0a, ...varint(bytes.length)]), bytes]);
}

export function encodeHealthCheckResponse(status: number): Buffer {
  // proto3 omits a default (0) scalar.
  return status === 0 ? Buffer.alloc(0) : Buffer.from([0x08, ...varint(status)]);
}

/** Reads a varint at `pos`; returns [value, next position]. Values over 2^53 are not needed here and rejected. */
function readVarint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let shift = 0;
  for (let i = pos; i < buf.length && shift < 64; i++) {
    const b = buf[i] as number;
    if (shift < 49) result += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return [result, i + 1];
  }
  throw new Error('malformed varint');
}

/** Walks the fields of a message, calling `onField` for each; unknown fields are skipped by wire type. */
function forEachField(buf: Buffer, onField: (field: number, wireType: number, value: number | Buffer) => void): void {
  let pos = 0;
  while (pos < buf.length) {
    const [key, afterKey] = readVarint(buf, pos);
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    pos = afterKey;
    switch (wireType) {
      case 0: {
        const [v, next] = readVarint(buf, pos);
        onField(field, wireType, v);
        pos = next;
        break;
      }
      case 1:
        if (pos + 8 > buf.length) throw new Error('truncated fixed64');
        pos += 8;
        break;
      case 2: {
        const [len, next] = readVarint(buf, pos);
        if (next + len > buf.length) throw new Error('truncated length-delimited field');
        onField(field, wireType, buf.subarray(next, next + len));
        pos = next + len;
        break;
      }
      case 5:
        if (pos + 4 > buf.length) throw new Error('truncated fixed32');
        pos += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${wireType}`);
    }
  }
}

/** Decodes HealthCheckRequest; throws on malformed input. */
export function decodeHealthCheckRequest(buf: Buffer): { service: string } {
  let service = '';
  forEachField(buf, (field, wireType, value) => {
    if (field === 1 && wireType === 2) service = (value as Buffer).toString('utf8');
  });
  return { service };
}

/** Decodes HealthCheckResponse; throws on malformed input. */
export function decodeHealthCheckResponse(buf: Buffer): { status: number } {
  let status = 0;
  forEachField(buf, (field, wireType, value) => {
    if (field === 1 && wireType === 0) status = value as number;
  });
  return { status };
}
