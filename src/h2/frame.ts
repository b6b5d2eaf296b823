// SPDX-License-Identifier: Apache-2.0
// HTTP/2 frame codec (RFC 9113 §4, §6): constants, SETTINGS parsing and the frame encoders of meshlet's own HTTP/2
// engine. Pure: no I/O. The reading side lives in frame-reader.ts; the connection (stream state) builds on both.

/** Size of the fixed frame header: 24-bit length, 8-bit type, 8-bit flags, 1 reserved bit + 31-bit stream id. */
export const FRAME_HEADER_BYTES = 9;

/** Frame type codes (RFC 9113 §6). Unknown types must be ignored by the receiver (§4.1). */
export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

/** Frame flags. END_STREAM (DATA, HEADERS) and ACK (SETTINGS, PING) share bit 0x1. */
export const Flags = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** Error codes for RST_STREAM and GOAWAY (RFC 9113 §7). */
export const ErrorCode = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  SETTINGS_TIMEOUT: 4,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  CONNECT_ERROR: 10,
  ENHANCE_YOUR_CALM: 11,
  INADEQUATE_SECURITY: 12,
  HTTP_1_1_REQUIRED: 13,
} as const;

/** SETTINGS parameter ids (RFC 9113 §6.5.2). */
export const SettingId = {
  HEADER_TABLE_SIZE: 1,
  ENABLE_PUSH: 2,
  MAX_CONCURRENT_STREAMS: 3,
  INITIAL_WINDOW_SIZE: 4,
  MAX_FRAME_SIZE: 5,
  MAX_HEADER_LIST_SIZE: 6,
} as const;

/** The client connection preface (RFC 9113 §3.4), 24 bytes. Shared: never mutate. */
export const CONNECTION_PREFACE: Buffer = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** One side's SETTINGS (RFC 9113 §6.5.2). */
export interface Settings {
  /** HPACK dynamic table size in bytes the sender's decoder allows. Default 4096. */
  headerTableSize: number;
  /** Whether server push is allowed. Default true (meshlet always sends false). */
  enablePush: boolean;
  /** Max concurrent streams the sender accepts. Default Infinity (unlimited) when absent. */
  maxConcurrentStreams: number;
  /** Initial stream flow-control window in bytes. Default 65535, range 0..2^31-1. */
  initialWindowSize: number;
  /** Largest frame payload in bytes the sender accepts. Default 16384, range 16384..16777215. */
  maxFrameSize: number;
  /** Advisory max header list size in bytes (RFC 9113 §6.5.2 sizing). Default Infinity when absent. */
  maxHeaderListSize: number;
}

/** The RFC defaults, in effect until a peer's SETTINGS says otherwise. Frozen: copy before mutating. */
export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  headerTableSize: 4096,
  enablePush: true,
  maxConcurrentStreams: Infinity,
  initialWindowSize: 65535,
  maxFrameSize: 16384,
  maxHeaderListSize: Infinity,
});

/**
 * A framing or settings violation. `code` is the HTTP/2 error code (an `ErrorCode` value) to send; `streamId` is 0
 * for a connection error (GOAWAY) and the stream's id for a stream error (RST_STREAM).
 */
export class FrameError extends Error {
  readonly code: number;
  readonly streamId: number;

  constructor(code: number, message: string, streamId = 0) {
    super(message);
    this.name = 'FrameError';
    this.code = code;
    this.streamId = streamId;
  }
}

const MAX_WINDOW = 0x7fffffff;
const MIN_MAX_FRAME_SIZE = 16384;
const MAX_MAX_FRAME_SIZE = 16777215;

/**
 * Parses a SETTINGS payload (`payload[start..end)`) into `into`, which the caller passes as its own copy (it is
 * mutated in place, also when a later entry fails validation). Validates per RFC 9113 §6.5.2: ENABLE_PUSH not 0/1
 * -> PROTOCOL_ERROR; INITIAL_WINDOW_SIZE > 2^31-1 -> FLOW_CONTROL_ERROR; MAX_FRAME_SIZE outside 16384..16777215 ->
 * PROTOCOL_ERROR; a length that is not a multiple of 6 -> FRAME_SIZE_ERROR. All are connection errors (streamId 0).
 * Unknown ids are ignored (§6.5.2) and not returned. Role checks (a server must not send ENABLE_PUSH=1) are the
 * connection's. Returns the known ids present, in order of appearance, repeats included (the last value wins).
 */
export function parseSettings(payload: Buffer, start: number, end: number, into: Settings): number[] {
  const length = end - start;
  if (length % 6 !== 0) {
    throw new FrameError(ErrorCode.FRAME_SIZE_ERROR, `SETTINGS payload length ${length} is not a multiple of 6`);
  }
  const ids: number[] = [];
  for (let off = start; off < end; off += 6) {
    const id = payload.readUInt16BE(off);
    const value = payload.readUInt32BE(off + 2);
    switch (id) {
      case SettingId.HEADER_TABLE_SIZE:
        into.headerTableSize = value;
        break;
      case SettingId.ENABLE_PUSH:
        if (value > 1) {
          throw new FrameError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH must be 0 or 1, got ${value}`);
        }
        into.enablePush = value === 1;
        break;
      case SettingId.MAX_CONCURRENT_STREAMS:
        into.maxConcurrentStreams = value;
        break;
      case SettingId.INITIAL_WINDOW_SIZE:
        if (value > MAX_WINDOW) {
          throw new FrameError(
            ErrorCode.FLOW_CONTROL_ERROR,
            `SETTINGS_INITIAL_WINDOW_SIZE ${value} exceeds the maximum window 2^31-1`,
          );
        }
        into.initialWindowSize = value;
        break;
      case SettingId.MAX_FRAME_SIZE:
        if (value < MIN_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) {
          throw new FrameError(
            ErrorCode.PROTOCOL_ERROR,
            `SETTINGS_MAX_FRAME_SIZE ${value} is outside ${MIN_MAX_FRAME_SIZE}..${MAX_MAX_FRAME_SIZE}`,
          );
        }
        into.maxFrameSize = value;
        break;
      case SettingId.MAX_HEADER_LIST_SIZE:
        into.maxHeaderListSize = value;
        break;
      default:
        continue; // unknown id: ignored (RFC 9113 §6.5.2)
    }
    ids.push(id);
  }
  return ids;
}

/** Writes a frame header at `off`. `streamId`'s reserved bit is cleared. */
function writeFrameHeader(buf: Buffer, off: number, length: number, type: number, flags: number, streamId: number): void {
  buf[off] = length >>> 16;
  buf[off + 1] = length >>> 8;
  buf[off + 2] = length;
  buf[off + 3] = type;
  buf[off + 4] = flags;
  buf.writeUInt32BE(streamId & MAX_WINDOW, off + 5);
}

function checkStreamId(streamId: number, what: string): void {
  if (!(streamId >= 0 && streamId <= MAX_WINDOW) || Math.floor(streamId) !== streamId) {
    throw new RangeError(`${what}: stream id ${streamId} is outside 0..2^31-1`);
  }
}

/**
 * Encodes a SETTINGS frame (stream 0) with the given `[id, value]` pairs in order (ids 16-bit, values 32-bit
 * unsigned; out-of-range numbers throw RangeError). An empty list gives an empty SETTINGS frame.
 */
export function encodeSettings(values: ReadonlyArray<readonly [id: number, value: number]>): Buffer {
  const length = values.length * 6;
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  writeFrameHeader(buf, 0, length, FrameType.SETTINGS, 0, 0);
  let off = FRAME_HEADER_BYTES;
  for (const [id, value] of values) {
    buf.writeUInt16BE(id, off);
    buf.writeUInt32BE(value, off + 2);
    off += 6;
  }
  return buf;
}

const SETTINGS_ACK = Buffer.from([0, 0, 0, FrameType.SETTINGS, Flags.ACK, 0, 0, 0, 0]);

/** Returns a SETTINGS frame with ACK and no payload. The Buffer is a shared constant: never mutate it. */
export function encodeSettingsAck(): Buffer {
  return SETTINGS_ACK;
}

/** Encodes a PING frame (stream 0) carrying exactly 8 opaque bytes, with ACK when `ack` (a reply echoes them). */
export function encodePing(payload8: Buffer, ack: boolean): Buffer {
  if (payload8.length !== 8) throw new RangeError(`PING payload must be 8 bytes, got ${payload8.length}`);
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 8);
  writeFrameHeader(buf, 0, 8, FrameType.PING, ack ? Flags.ACK : 0, 0);
  payload8.copy(buf, FRAME_HEADER_BYTES);
  return buf;
}

/**
 * Encodes a GOAWAY frame (stream 0): `lastStreamId` (0..2^31-1, the highest peer-initiated stream that was or may be
 * processed), `code` (an `ErrorCode`, 32-bit) and optional debug text (UTF-8; diagnostics only, never sensitive).
 */
export function encodeGoaway(lastStreamId: number, code: number, debug?: string): Buffer {
  checkStreamId(lastStreamId, 'GOAWAY');
  const debugBytes = debug === undefined ? 0 : Buffer.byteLength(debug, 'utf8');
  const length = 8 + debugBytes;
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  writeFrameHeader(buf, 0, length, FrameType.GOAWAY, 0, 0);
  buf.writeUInt32BE(lastStreamId, 9);
  buf.writeUInt32BE(code, 13);
  if (debug !== undefined && debugBytes > 0) buf.write(debug, 17, 'utf8');
  return buf;
}

/**
 * Encodes a WINDOW_UPDATE frame for `streamId` (0 = the connection window). `increment` is in bytes, 1..2^31-1
 * (0 is a protocol error for the receiver, so it throws RangeError here).
 */
export function encodeWindowUpdate(streamId: number, increment: number): Buffer {
  checkStreamId(streamId, 'WINDOW_UPDATE');
  if (!(increment >= 1 && increment <= MAX_WINDOW)) {
    throw new RangeError(`WINDOW_UPDATE increment ${increment} is outside 1..2^31-1`);
  }
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(buf, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId);
  buf.writeUInt32BE(increment, 9);
  return buf;
}

/** Encodes a RST_STREAM frame for `streamId` (1..2^31-1) with `code` (an `ErrorCode`, 32-bit). */
export function encodeRstStream(streamId: number, code: number): Buffer {
  checkStreamId(streamId, 'RST_STREAM');
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(buf, 0, 4, FrameType.RST_STREAM, 0, streamId);
  buf.writeUInt32BE(code, 9);
  return buf;
}

/**
 * Encodes a header block as one HEADERS frame plus CONTINUATION frames when `block.length > maxFrameSize` (the
 * peer's SETTINGS_MAX_FRAME_SIZE, 16384..16777215), all in one Buffer (the block is copied once). END_HEADERS is on
 * the last frame; END_STREAM, when asked, is on the HEADERS frame (RFC 9113 §6.2: CONTINUATION has no such flag).
 * An empty block gives one empty HEADERS frame. No padding and no priority are ever sent.
 */
export function encodeHeaders(streamId: number, block: Buffer, endStream: boolean, maxFrameSize: number): Buffer {
  checkStreamId(streamId, 'HEADERS');
  if (!(maxFrameSize >= MIN_MAX_FRAME_SIZE && maxFrameSize <= MAX_MAX_FRAME_SIZE)) {
    throw new RangeError(`maxFrameSize ${maxFrameSize} is outside ${MIN_MAX_FRAME_SIZE}..${MAX_MAX_FRAME_SIZE}`);
  }
  const total = block.length;
  const frames = total === 0 ? 1 : Math.ceil(total / maxFrameSize);
  const buf = Buffer.allocUnsafe(total + frames * FRAME_HEADER_BYTES);
  let src = 0;
  let off = 0;
  for (let i = 0; i < frames; i++) {
    const n = Math.min(maxFrameSize, total - src);
    let flags = i === frames - 1 ? Flags.END_HEADERS : 0;
    if (i === 0 && endStream) flags |= Flags.END_STREAM;
    writeFrameHeader(buf, off, n, i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION, flags, streamId);
    block.copy(buf, off + FRAME_HEADER_BYTES, src, src + n);
    off += FRAME_HEADER_BYTES + n;
    src += n;
  }
  return buf;
}

/**
 * Returns a new 9-byte DATA frame header for `length` payload bytes (0..16777215; the caller keeps it within the
 * peer's maxFrameSize and flow-control windows) on `streamId`, with END_STREAM when asked. The payload is written
 * to the socket separately, so it is never copied. No padding is ever sent.
 */
export function encodeDataHeader(streamId: number, length: number, endStream: boolean): Buffer {
  if (!(length >= 0 && length <= MAX_MAX_FRAME_SIZE)) throw new RangeError(`DATA length ${length} is outside 0..2^24-1`);
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  writeFrameHeader(buf, 0, length, FrameType.DATA, endStream ? Flags.END_STREAM : 0, streamId);
  return buf;
}
