// SPDX-License-Identifier: Apache-2.0
// The gRPC-Web wire format (grpc/grpc PROTOCOL-WEB.md), a pure leaf: content types, length-prefixed frames with the
// trailer flag 0x80, trailers serialization and a streaming base64 decoder for `application/grpc-web-text`.

/** The flag bit of a length-prefixed frame that marks it as the trailers frame (PROTOCOL-WEB.md "Message framing"). */
export const TRAILER_FLAG = 0x80;

/** A gRPC-Web content type, parsed: `text` for the base64 variants (`application/grpc-web-text`). */
export interface GrpcWebContentType {
  readonly text: boolean;
}

/**
 * Parses a request content type. Accepted: `application/grpc-web`, `application/grpc-web+proto`,
 * `application/grpc-web-text`, `application/grpc-web-text+proto` (parameters after `;` ignored, case-insensitive).
 * Returns undefined for anything else, `+json` included: the app behind meshlet speaks protobuf gRPC.
 */
export function parseGrpcWebContentType(value: string | undefined): GrpcWebContentType | undefined {
  if (value === undefined) return undefined;
  const semi = value.indexOf(';');
  const ct = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  switch (ct) {
    case 'application/grpc-web':
    case 'application/grpc-web+proto':
      return { text: false };
    case 'application/grpc-web-text':
    case 'application/grpc-web-text+proto':
      return { text: true };
    default:
      return undefined;
  }
}

/** True when `value` names some gRPC-Web content type (`application/grpc-web…`), supported or not. */
export function isGrpcWebContentType(value: string | undefined): boolean {
  return value !== undefined && value.trimStart().toLowerCase().startsWith('application/grpc-web');
}

/** The response content type for a request of type `ct`: the same variant, with `+proto`. */
export function responseContentType(ct: GrpcWebContentType): string {
  return ct.text ? 'application/grpc-web-text+proto' : 'application/grpc-web+proto';
}

/** One length-prefixed frame: 1 flag byte, 4 bytes big-endian length, then `data`. */
export interface Frame {
  readonly flags: number;
  readonly data: Buffer;
}

/** Encodes one frame. */
export function encodeFrame(flags: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + data.length);
  out[0] = flags;
  out.writeUInt32BE(data.length, 1);
  out.set(data, 5);
  return out;
}

/** Why a body does not parse as frames. */
export class GrpcWebFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GrpcWebFormatError';
  }
}

/**
 * Splits a complete body into frames. Throws GrpcWebFormatError when the body ends inside a frame (a body cut
 * short), naming the offset.
 */
export function parseFrames(body: Buffer): Frame[] {
  const frames: Frame[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 5) {
      throw new GrpcWebFormatError(`body ends inside a frame header at byte ${at} (${body.length - at} of 5 bytes)`);
    }
    const flags = body[at] as number;
    const len = body.readUInt32BE(at + 1);
    if (body.length - at - 5 < len) {
      throw new GrpcWebFormatError(`frame at byte ${at} declares ${len} bytes but the body has ${body.length - at - 5}`);
    }
    frames.push({ flags, data: body.subarray(at + 5, at + 5 + len) });
    at += 5 + len;
  }
  return frames;
}

/**
 * Serializes trailers as the gRPC-Web trailers block: `name: value\r\n` per entry, names lowercased (PROTOCOL-WEB.md
 * "Message framing"). Pseudo-headers and undefined values are skipped; array values give one line each.
 */
export function serializeTrailers(trailers: Readonly<Record<string, unknown>>): Buffer {
  let text = '';
  for (const [name, value] of Object.entries(trailers)) {
    if (name.startsWith(':') || value === undefined || value === null) continue;
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) text += `${name.toLowerCase()}: ${String(v)}\r\n`;
  }
  return Buffer.from(text, 'latin1');
}

/** The trailers frame (flag 0x80) for `trailers`. */
export function encodeTrailerFrame(trailers: Readonly<Record<string, unknown>>): Buffer {
  return encodeFrame(TRAILER_FLAG, serializeTrailers(trailers));
}

/** Parses a trailers block back into lowercase name → value (repeated names joined with `, `). */
export function parseTrailers(block: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of block.toString('latin1').split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new GrpcWebFormatError(`trailer line without a name: ${JSON.stringify(line.slice(0, 40))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

// Standard base64 alphabet values; -1 = not base64. Whitespace is not allowed: browsers and gRPC-Web clients send none.
const B64 = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;
const PAD = 0x3d; // '='

/**
 * Decodes a base64 stream fed in chunks split at any byte. The stream is a sequence of 4-character quanta; a
 * quantum may end in padding (`xx==`, `xxx=`), after which a new quantum may start: clients (and servers such as
 * Envoy) encode chunk by chunk, each padded. Not re-entrant; one decoder per body.
 */
export class Base64StreamDecoder {
  private readonly quantum = new Uint8Array(4);
  private held = 0;
  /** Characters consumed so far (for error offsets). */
  private offset = 0;

  /** Decodes what completes in `chunk`; keeps up to 3 characters for the next one. Throws GrpcWebFormatError. */
  push(chunk: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(Math.floor((this.held + chunk.length) / 4) * 3);
    let w = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as number;
      if (c !== PAD && B64[c] === -1) {
        throw new GrpcWebFormatError(`invalid base64 character 0x${c.toString(16).padStart(2, '0')} at offset ${this.offset + i}`);
      }
      this.quantum[this.held++] = c;
      if (this.held < 4) continue;
      this.held = 0;
      w += this.decodeQuantum(out, w, this.offset + i - 3);
    }
    this.offset += chunk.length;
    return out.subarray(0, w);
  }

  /** Ends the stream; throws GrpcWebFormatError when it stops inside a quantum (a body cut short). */
  end(): void {
    if (this.held !== 0) throw new GrpcWebFormatError(`base64 body ends inside a 4-character group (${this.held} left over)`);
  }

  private decodeQuantum(out: Buffer, w: number, at: number): number {
    const [a, b, c, d] = this.quantum as unknown as [number, number, number, number];
    if (a === PAD || b === PAD || (c === PAD && d !== PAD)) throw new GrpcWebFormatError(`misplaced base64 padding at offset ${at}`);
    const n = (B64[a]! << 18) | (B64[b]! << 12) | ((c === PAD ? 0 : B64[c]!) << 6) | (d === PAD ? 0 : B64[d]!);
    out[w] = n >> 16;
    if (c === PAD) return 1;
    out[w + 1] = (n >> 8) & 0xff;
    if (d === PAD) return 2;
    out[w + 2] = n & 0xff;
    return 3;
  }
}
