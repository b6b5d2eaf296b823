// SPDX-License-Identifier: Apache-2.0
// gRPC status codes, grpc-message percent-encoding and the RST_STREAM → status mapping (PROTOCOL-HTTP2.md).

/** gRPC status codes (grpc/doc/statuscodes.md). */
export enum Status {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

/** Status names as strings, indexed by code; used for bounded metric labels and logs. */
export const STATUS_NAMES: readonly string[] = Object.freeze(
  Array.from({ length: 17 }, (_, i) => Status[i] as string),
);

/**
 * Percent-encodes a grpc-message value as PROTOCOL-HTTP2.md requires: bytes outside 0x20-0x7E, and '%' itself,
 * become %XX of their UTF-8 encoding.
 */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte < 0x20 || byte > 0x7e || byte === 0x25 ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(byte);
  }
  return out;
}

/** Decodes a percent-encoded grpc-message; malformed escapes are kept as they are (the spec asks for leniency). */
export function decodeGrpcMessage(value: string): string {
  if (!value.includes('%')) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && i + 2 < value.length + 0 && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(c & 0xff);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * The RST_STREAM error codes the status mapping names (RFC 9113 §7). Protocol constants, spelled out here so this
 * leaf needs nothing of the engine.
 */
const RST_REFUSED_STREAM = 0x7;
const RST_CANCEL = 0x8;
const RST_ENHANCE_YOUR_CALM = 0xb;
const RST_INADEQUATE_SECURITY = 0xc;

/**
 * The status a client sees when a stream is reset without trailers (PROTOCOL-HTTP2.md "Errors"; grpc-js does the
 * same): REFUSED_STREAM → UNAVAILABLE, CANCEL → CANCELLED, ENHANCE_YOUR_CALM → RESOURCE_EXHAUSTED,
 * INADEQUATE_SECURITY → PERMISSION_DENIED, everything else → INTERNAL.
 */
export function statusForRstCode(rstCode: number): Status {
  switch (rstCode) {
    case RST_REFUSED_STREAM:
      return Status.UNAVAILABLE;
    case RST_CANCEL:
      return Status.CANCELLED;
    case RST_ENHANCE_YOUR_CALM:
      return Status.RESOURCE_EXHAUSTED;
    case RST_INADEQUATE_SECURITY:
      return Status.PERMISSION_DENIED;
    default:
      return Status.INTERNAL;
  }
}

/**
 * The gRPC status for an HTTP response that carries no grpc-status (PROTOCOL-HTTP2.md / http-grpc-status-mapping.md):
 * 400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE,
 * other UNKNOWN.
 */
export function statusForHttpStatus(httpStatus: number): Status {
  switch (httpStatus) {
    case 400:
      return Status.INTERNAL;
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Status.UNAVAILABLE;
    default:
      return Status.UNKNOWN;
  }
}
