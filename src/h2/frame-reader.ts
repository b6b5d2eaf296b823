// SPDX-License-Identifier: Apache-2.0
// HTTP/2 frame reader (RFC 9113 §3.4, §4, §6): splits socket bytes into frames for the connection. Runs on every
// socket read, so the common case (whole frames inside one chunk) hands out the chunk and the payload's offsets in
// it: no payload copies, no closures, no allocation per frame (the sink makes a view only where it keeps one: DATA).
// Only a frame that spans chunks is copied, once, into a buffer of exactly its size (O(frame size) however it is
// split).

import { CONNECTION_PREFACE, ErrorCode, FRAME_HEADER_BYTES, Flags, FrameError, FrameType } from './frame.js';

/** Receives frames from a FrameReader, synchronously and in wire order. */
export interface FrameSink {
  /**
   * One whole frame. Its payload is `buf[start, end)`: the socket's chunk when the frame is inside one (no copy), a
   * buffer of its own when it spanned chunks; AFTER padding removal for DATA/HEADERS (PADDED flag handled; pad
   * length >= payload -> PROTOCOL_ERROR) and after the 5 priority bytes of HEADERS with the PRIORITY flag are
   * skipped. For DATA, `flowLength` is the full frame length incl. padding (flow control counts it); for every other
   * type it is the frame's length field too. The bytes may be kept (the reader never overwrites them). Unknown frame
   * types are delivered as they are (the connection ignores them, RFC 9113 §4.1). The sink may call `stop()`.
   */
  onFrame(type: number, flags: number, streamId: number, buf: Buffer, start: number, end: number, flowLength: number): void;
}

const PREFACE_BYTES = CONNECTION_PREFACE.length;
const MIN_MAX_FRAME_SIZE = 16384;
const MAX_MAX_FRAME_SIZE = 16777215;
const HTTP1_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

/**
 * Incremental HTTP/2 frame splitter. Not re-entrant: the sink must not call `push()` from `onFrame`.
 *
 * State between pushes is one of:
 * 1. idle: the previous chunk ended on a frame boundary;
 * 2. partial header: 1..8 header bytes are kept in a fixed 9-byte buffer;
 * 3. partial payload: the header was validated and the payload so far sits in a buffer of the frame's exact size.
 */
export class FrameReader {
  private readonly sink: FrameSink;
  private readonly maxFrameSize: number;
  /** Preface bytes still expected (0 = none or done). */
  private prefaceLeft = 0;
  /** Set by stop() or by any throw (ours or the sink's): push() is then a no-op. */
  private dead = false;
  private stopped = false;
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  /** Payload of a frame that spans chunks, `pendingFill` bytes of it received so far; null when none. */
  private pending: Buffer | null = null;
  private pendingFill = 0;
  private pendingType = 0;
  private pendingFlags = 0;
  private pendingStreamId = 0;

  /**
   * @param sink receives the frames.
   * @param maxFrameSize our SETTINGS_MAX_FRAME_SIZE in bytes: default 16384, range 16384..16777215 (RangeError
   *   otherwise); a frame with a larger payload -> FrameError FRAME_SIZE_ERROR.
   */
  constructor(sink: FrameSink, maxFrameSize = MIN_MAX_FRAME_SIZE) {
    if (!(maxFrameSize >= MIN_MAX_FRAME_SIZE && maxFrameSize <= MAX_MAX_FRAME_SIZE)) {
      throw new RangeError(`maxFrameSize ${maxFrameSize} is outside ${MIN_MAX_FRAME_SIZE}..${MAX_MAX_FRAME_SIZE}`);
    }
    this.sink = sink;
    this.maxFrameSize = maxFrameSize;
  }

  /**
   * Consumes the client connection preface first (server role). Call before the first push(). A mismatch throws
   * FrameError PROTOCOL_ERROR whose message says it looks like HTTP/1.x when the bytes start with an HTTP method.
   */
  expectPreface(): void {
    this.prefaceLeft = PREFACE_BYTES;
  }

  /**
   * Feeds bytes; calls sink.onFrame for each complete frame, synchronously, in order. Keeps an incomplete tail
   * (only the tail is copied). Throws FrameError on framing errors (all connection errors, streamId 0); after a
   * throw (also one from the sink) the reader is unusable and further pushes are ignored. Validates per-type fixed
   * sizes (PING 8, RST_STREAM 4, WINDOW_UPDATE 4, PRIORITY 5, SETTINGS %6 and 0 with ACK, GOAWAY >= 8, room for
   * the pad length / priority fields) -> FRAME_SIZE_ERROR, and stream ids (SETTINGS/PING/GOAWAY must be 0;
   * DATA/HEADERS/RST_STREAM/PRIORITY/CONTINUATION/PUSH_PROMISE must be non-0) -> PROTOCOL_ERROR. Does NOT track
   * stream state or CONTINUATION sequencing (the connection does). Keeps no reference to `chunk` after returning,
   * except through payload views handed to the sink.
   */
  push(chunk: Buffer): void {
    if (this.dead) return;
    this.dead = true; // cleared on normal return; a throw (ours or the sink's) leaves the reader dead
    const len = chunk.length;
    let off = 0;
    if (this.prefaceLeft > 0) {
      off = this.consumePreface(chunk);
      if (this.prefaceLeft > 0) {
        this.dead = false;
        return;
      }
    }
    if (this.headerFill > 0 || this.pending !== null) {
      off = this.resume(chunk, off);
      if (off < 0) {
        this.dead = this.stopped;
        return;
      }
    }
    while (len - off >= FRAME_HEADER_BYTES) {
      const length = (chunk[off]! << 16) | (chunk[off + 1]! << 8) | chunk[off + 2]!;
      const type = chunk[off + 3]!;
      const flags = chunk[off + 4]!;
      const streamId = chunk.readUInt32BE(off + 5) & 0x7fffffff;
      this.checkHeader(length, type, flags, streamId);
      const start = off + FRAME_HEADER_BYTES;
      const end = start + length;
      if (end > len) {
        this.stash(chunk, start, length, type, flags, streamId);
        this.dead = false;
        return;
      }
      off = end;
      this.deliver(type, flags, streamId, chunk, start, end);
      if (this.stopped) return;
    }
    if (off < len) {
      chunk.copy(this.header, 0, off, len);
      this.headerFill = len - off;
    }
    this.dead = false;
  }

  /** A sink may stop delivery mid-chunk (e.g. the connection was destroyed): after `stop()`, push() is a no-op. */
  stop(): void {
    this.stopped = true;
    this.dead = true;
  }

  /** Matches the start of `chunk` against the rest of the preface; returns the bytes consumed. */
  private consumePreface(chunk: Buffer): number {
    const matched = PREFACE_BYTES - this.prefaceLeft;
    const n = Math.min(this.prefaceLeft, chunk.length);
    if (chunk.compare(CONNECTION_PREFACE, matched, matched + n, 0, n) !== 0) throw prefaceError(chunk, matched);
    this.prefaceLeft -= n;
    return n;
  }

  /**
   * Continues a frame begun in an earlier chunk. Returns the offset after it, or -1 when `chunk` was used up (the
   * frame is still incomplete) or the sink stopped the reader.
   */
  private resume(chunk: Buffer, off: number): number {
    const len = chunk.length;
    const pending = this.pending;
    if (pending !== null) {
      const need = pending.length - this.pendingFill;
      if (len - off < need) {
        chunk.copy(pending, this.pendingFill, off, len);
        this.pendingFill += len - off;
        return -1;
      }
      chunk.copy(pending, this.pendingFill, off, off + need);
      this.pending = null; // state is clean before the sink runs
      this.deliver(this.pendingType, this.pendingFlags, this.pendingStreamId, pending, 0, pending.length);
      return this.stopped ? -1 : off + need;
    }
    const header = this.header;
    const need = FRAME_HEADER_BYTES - this.headerFill;
    if (len - off < need) {
      chunk.copy(header, this.headerFill, off, len);
      this.headerFill += len - off;
      return -1;
    }
    chunk.copy(header, this.headerFill, off, off + need);
    this.headerFill = 0;
    off += need;
    const length = (header[0]! << 16) | (header[1]! << 8) | header[2]!;
    const type = header[3]!;
    const flags = header[4]!;
    const streamId = header.readUInt32BE(5) & 0x7fffffff;
    this.checkHeader(length, type, flags, streamId);
    if (len - off < length) {
      this.stash(chunk, off, length, type, flags, streamId);
      return -1;
    }
    this.deliver(type, flags, streamId, chunk, off, off + length);
    return this.stopped ? -1 : off + length;
  }

  /** Starts a frame whose payload continues in later chunks: one buffer of exactly its size, filled as bytes come. */
  private stash(chunk: Buffer, start: number, length: number, type: number, flags: number, streamId: number): void {
    const buf = Buffer.allocUnsafe(length);
    chunk.copy(buf, 0, start, chunk.length);
    this.pending = buf;
    this.pendingFill = chunk.length - start;
    this.pendingType = type;
    this.pendingFlags = flags;
    this.pendingStreamId = streamId;
  }

  /** Validates what the 9-byte header alone can tell (RFC 9113 §4.2, §6). All are connection errors. */
  private checkHeader(length: number, type: number, flags: number, streamId: number): void {
    if (length > this.maxFrameSize) {
      throw new FrameError(
        ErrorCode.FRAME_SIZE_ERROR,
        `${typeName(type)} frame length ${length} exceeds SETTINGS_MAX_FRAME_SIZE ${this.maxFrameSize}`,
      );
    }
    switch (type) {
      case FrameType.DATA:
        if (streamId === 0) throw streamZero(type);
        if ((flags & Flags.PADDED) !== 0 && length < 1) throw tooShort(type, length, 1);
        break;
      case FrameType.HEADERS: {
        if (streamId === 0) throw streamZero(type);
        const min = ((flags & Flags.PADDED) !== 0 ? 1 : 0) + ((flags & Flags.PRIORITY) !== 0 ? 5 : 0);
        if (length < min) throw tooShort(type, length, min);
        break;
      }
      case FrameType.PRIORITY:
        // RFC 9113 §6.3 calls a bad length a stream error; treated as a connection error like nghttp2 does, since a
        // reader that threw cannot continue.
        if (streamId === 0) throw streamZero(type);
        if (length !== 5) throw wrongLength(type, length, 5);
        break;
      case FrameType.RST_STREAM:
        if (streamId === 0) throw streamZero(type);
        if (length !== 4) throw wrongLength(type, length, 4);
        break;
      case FrameType.SETTINGS:
        if (streamId !== 0) throw streamNonZero(type, streamId);
        if ((flags & Flags.ACK) !== 0) {
          if (length !== 0) {
            throw new FrameError(ErrorCode.FRAME_SIZE_ERROR, `SETTINGS frame with ACK has length ${length}, must be 0`);
          }
        } else if (length % 6 !== 0) {
          throw new FrameError(ErrorCode.FRAME_SIZE_ERROR, `SETTINGS frame length ${length} is not a multiple of 6`);
        }
        break;
      case FrameType.PUSH_PROMISE:
        if (streamId === 0) throw streamZero(type);
        break;
      case FrameType.PING:
        if (streamId !== 0) throw streamNonZero(type, streamId);
        if (length !== 8) throw wrongLength(type, length, 8);
        break;
      case FrameType.GOAWAY:
        if (streamId !== 0) throw streamNonZero(type, streamId);
        if (length < 8) throw tooShort(type, length, 8);
        break;
      case FrameType.WINDOW_UPDATE:
        if (length !== 4) throw wrongLength(type, length, 4);
        break;
      case FrameType.CONTINUATION:
        if (streamId === 0) throw streamZero(type);
        break;
      default:
        break; // unknown type: delivered, the connection ignores it (RFC 9113 §4.1)
    }
  }

  /** Strips padding (DATA/HEADERS) and priority fields (HEADERS), then hands the frame to the sink. */
  private deliver(type: number, flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    const length = end - start;
    if ((flags & (Flags.PADDED | Flags.PRIORITY)) !== 0 && (type === FrameType.DATA || type === FrameType.HEADERS)) {
      let padLength = 0;
      if ((flags & Flags.PADDED) !== 0) padLength = buf[start++]!; // checkHeader ensured the byte is there
      if (type === FrameType.HEADERS && (flags & Flags.PRIORITY) !== 0) {
        // A stream cannot depend on itself (§5.3.1): a stream error, told to the sink by a flag bit, since the
        // header block must still be decoded to keep HPACK in sync.
        if ((buf.readUInt32BE(start) & 0x7fffffff) === streamId) flags |= SELF_DEPENDENT; // checkHeader: 5 bytes are there
        start += 5;
      }
      if (padLength > end - start) {
        throw new FrameError(
          ErrorCode.PROTOCOL_ERROR,
          `${typeName(type)} frame on stream ${streamId}: pad length ${padLength} leaves no room in its ${length}-byte payload`,
        );
      }
      end -= padLength;
    }
    this.sink.onFrame(type, flags, streamId, buf, start, end, length);
  }
}

/**
 * Set in the flags handed to the sink (outside the 8 bits of the wire's flags) for a HEADERS frame whose priority
 * fields make the stream depend on itself: a stream error PROTOCOL_ERROR (RFC 9113 §5.3.1).
 */
export const SELF_DEPENDENT = 0x100;

const TYPE_NAMES = [
  'DATA',
  'HEADERS',
  'PRIORITY',
  'RST_STREAM',
  'SETTINGS',
  'PUSH_PROMISE',
  'PING',
  'GOAWAY',
  'WINDOW_UPDATE',
  'CONTINUATION',
];

function typeName(type: number): string {
  return TYPE_NAMES[type] ?? `unknown type 0x${type.toString(16)}`;
}

function streamZero(type: number): FrameError {
  return new FrameError(ErrorCode.PROTOCOL_ERROR, `${typeName(type)} frame on stream 0, must be on a stream`);
}

function streamNonZero(type: number, streamId: number): FrameError {
  return new FrameError(ErrorCode.PROTOCOL_ERROR, `${typeName(type)} frame on stream ${streamId}, must be on stream 0`);
}

function wrongLength(type: number, length: number, want: number): FrameError {
  return new FrameError(ErrorCode.FRAME_SIZE_ERROR, `${typeName(type)} frame length ${length}, must be ${want}`);
}

function tooShort(type: number, length: number, min: number): FrameError {
  return new FrameError(ErrorCode.FRAME_SIZE_ERROR, `${typeName(type)} frame length ${length}, must be at least ${min}`);
}

/** Builds the preface mismatch error; says so when the client evidently speaks HTTP/1.x or TLS. Error path only. */
function prefaceError(chunk: Buffer, matched: number): FrameError {
  const head = Buffer.concat([CONNECTION_PREFACE.subarray(0, matched), chunk.subarray(0, 64)]);
  const seen = head.toString('latin1');
  const looksHttp1 = HTTP1_METHODS.some((m) => seen.startsWith(`${m} `) || `${m} `.startsWith(seen));
  if (looksHttp1) {
    const line = seen.split('\r\n', 1)[0] ?? seen;
    return new FrameError(
      ErrorCode.PROTOCOL_ERROR,
      `expected the HTTP/2 connection preface, got what looks like an HTTP/1.x request (${JSON.stringify(line)}): ` +
        'the client must speak HTTP/2 (prior knowledge, or ALPN h2 over TLS)',
    );
  }
  if (head[0] === 0x16 && head[1] === 0x03) {
    return new FrameError(
      ErrorCode.PROTOCOL_ERROR,
      'expected the HTTP/2 connection preface, got what looks like a TLS handshake on a plaintext listener',
    );
  }
  return new FrameError(
    ErrorCode.PROTOCOL_ERROR,
    `bad HTTP/2 connection preface: got bytes ${head.subarray(0, 24).toString('hex')}`,
  );
}
