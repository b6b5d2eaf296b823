// SPDX-License-Identifier: Apache-2.0
// Header blocks from the peer (RFC 9113 §4.3, §6.2, §6.10): HEADERS and CONTINUATION assembled into one block,
// decoded with HPACK, and what the block means for each role: a new request, request trailers, a response (or an
// informational one), response trailers.

import type { IncomingHttpHeaders } from 'node:http2';
import { ClosedHow } from './closed-streams.js';
import { ConnectionError } from './errors.js';
import { encodeRstStream, ErrorCode, Flags } from './frame.js';
import { SELF_DEPENDENT } from './frame-reader.js';
import { boundedHpackDecoder, checkHeaderBlockSize, decodeHeaderBlock, headerBlockLimit, RefusalGuard } from './guards.js';
import { type BlockKind, sealReceived, toHeaderObject } from './headers.js';
import type { HpackDecoder } from './hpack/decoder.js';
import type { Role } from './settings.js';
import type { H2Stream } from './stream.js';
import type { StreamTable } from './streams.js';
import type { WriteScheduler } from './write-scheduler.js';

// A header block from the peer:
// 1. HEADERS without END_HEADERS starts a block; CONTINUATION frames on the same stream add to it, and nothing else
//    may come in between (§6.10: any other frame or stream is a connection error, PROTOCOL_ERROR). The block is
//    bounded while it grows (guards.ts, CONTINUATION floods).
// 2. With END_HEADERS the block is complete and always decoded, even for a stream we ignore: the HPACK state is
//    shared by the whole connection and must stay in sync (§4.3). A decoding error is a connection error
//    (COMPRESSION_ERROR); a list over our SETTINGS_MAX_HEADER_LIST_SIZE only fails its stream.
// 3. Server: HEADERS on a new odd id above every earlier one opens a stream ('stream' event) unless we are closing,
//    at our SETTINGS_MAX_CONCURRENT_STREAMS, or the process's stream memory budget is spent (REFUSED_STREAM: never
//    processed, safe to retry, §8.7; 'streamRefused' says why, and a peer refused too often gets GOAWAY
//    ENHANCE_YOUR_CALM, guards.ts; one that goes on opening streams after that is cut off). A stream depending on itself (§5.3.1), a malformed request (§8.2, §8.3) or one
//    whose content-length its END_STREAM already contradicts (§8.1.1) is reset with PROTOCOL_ERROR. On an open
//    stream HEADERS are the request's trailers and must end it (§8.1); on a half-closed (remote) one they are a
//    stream error STREAM_CLOSED (§5.1). On a closed stream: a connection error STREAM_CLOSED after the peer's
//    RST_STREAM or both END_STREAMs (§5.1), ignored after ours; on a lower id than one already opened that was never
//    opened itself, a connection error PROTOCOL_ERROR (§5.1.1).
// 4. Client: on an open stream, the first block is the response ('response'), after 1xx informational ones that
//    are dropped (gRPC has no use for them); the next is the trailers and must end the stream (§8.1).
// Fields the peer sent as never-indexed are marked on the header object, so that forwarding them keeps them so.

/** A header block waiting for its CONTINUATION frames (step 1). */
interface PendingBlock {
  streamId: number;
  endStream: boolean;
  /** The HEADERS frame made the stream depend on itself (§5.3.1). */
  selfDependent: boolean;
  chunks: Buffer[];
  size: number;
}

/** What incoming header blocks need from the connection (H2Connection implements it). */
export interface IncomingHeadersHost {
  readonly role: Role;
  /** No new streams: new ones are refused. */
  readonly closing: boolean;
  /** Server: announces a new request stream, with its headers and END_STREAM flag. */
  emit(event: 'stream', stream: H2Stream, headers: IncomingHttpHeaders, flags: number): boolean;
  /** Server: a new stream was refused (REFUSED_STREAM) for `reason`. */
  emit(event: 'streamRefused', reason: StreamRefusal): boolean;
  /** Server: the peer was refused too often: GOAWAY ENHANCE_YOUR_CALM, no new streams (goaway.ts, step 2). */
  refuseNewStreams(reason: string): void;
  /** The error code of the GOAWAY we sent because of the peer, if any. */
  readonly goawayCode: number | undefined;
}

/** Why a new stream was refused: our SETTINGS_MAX_CONCURRENT_STREAMS, or the shared stream memory budget. */
export type StreamRefusal = 'max_concurrent_streams' | 'memory_budget';

/** The incoming header blocks of one connection. */
export class IncomingHeaders {
  /** The block being assembled (step 1); then only its CONTINUATION frames may come. */
  pending: PendingBlock | undefined;
  private readonly host: IncomingHeadersHost;
  private readonly table: StreamTable;
  private readonly writer: WriteScheduler;
  private readonly decoder: HpackDecoder;
  /** The CONTINUATION flood guard's bound on a block. */
  private readonly maxBlockBytes: number;
  /** Our SETTINGS_MAX_CONCURRENT_STREAMS (server). */
  private readonly maxStreams: number;
  /** Counts refused streams: a peer that keeps opening past the limit is told to calm down (guards.ts). */
  private readonly refusals = new RefusalGuard();
  /** The decoded list of the block being handled: name, value, ... (reused). */
  private readonly headerList: string[] = [];
  /** Names the peer sent as HPACK never-indexed in the block being handled (reused). */
  private readonly neverIndexed: string[] = [];

  constructor(host: IncomingHeadersHost, table: StreamTable, writer: WriteScheduler, maxHeaderListBytes: number, maxStreams: number) {
    this.host = host;
    this.table = table;
    this.writer = writer;
    this.decoder = boundedHpackDecoder(maxHeaderListBytes);
    this.maxBlockBytes = headerBlockLimit(maxHeaderListBytes);
    this.maxStreams = maxStreams;
  }

  /** Step 1: a frame of `type` arrived while a block waits for CONTINUATION: a connection error. */
  interrupted(type: number): never {
    throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `expected CONTINUATION for stream ${this.pending?.streamId}, got frame type ${type}`);
  }

  /** A HEADERS frame, its fragment `buf[start, end)` (padding and priority already stripped). */
  onHeaders(flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    const selfDependent = (flags & SELF_DEPENDENT) !== 0;
    if ((flags & Flags.END_HEADERS) !== 0) {
      this.onHeaderBlock(streamId, (flags & Flags.END_STREAM) !== 0, buf, start, end, selfDependent);
    } else {
      const chunks = [Buffer.from(buf.subarray(start, end))];
      this.pending = { streamId, endStream: (flags & Flags.END_STREAM) !== 0, selfDependent, chunks, size: end - start };
    }
  }

  /** A CONTINUATION frame, its fragment `buf[start, end)` (step 1). */
  onContinuation(flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    const block = this.pending;
    if (block === undefined || block.streamId !== streamId) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `unexpected CONTINUATION on stream ${streamId}`);
    }
    block.chunks.push(Buffer.from(buf.subarray(start, end)));
    block.size += end - start;
    checkHeaderBlockSize(block.size, this.maxBlockBytes, streamId);
    if ((flags & Flags.END_HEADERS) === 0) return;
    this.pending = undefined;
    this.onHeaderBlock(streamId, block.endStream, Buffer.concat(block.chunks, block.size), 0, block.size, block.selfDependent);
  }

  /** Step 2: a complete header block, `block[start, end)`. */
  private onHeaderBlock(streamId: number, endStream: boolean, block: Buffer, start: number, end: number, selfDependent: boolean): void {
    const list = this.headerList;
    list.length = 0;
    const never = this.neverIndexed;
    never.length = 0;
    const tooLarge = decodeHeaderBlock(this.decoder, block, start, end, list, never);
    if (selfDependent) this.onSelfDependent(streamId);
    else if (this.host.role === 'server') this.onServerHeaders(streamId, endStream, list, tooLarge);
    else this.onClientHeaders(streamId, endStream, list, tooLarge);
  }

  /** A HEADERS frame that makes its stream depend on itself: a stream error PROTOCOL_ERROR (§5.3.1). */
  private onSelfDependent(streamId: number): void {
    const table = this.table;
    const existing = table.get(streamId);
    if (existing !== undefined) {
      table.reset(existing, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (this.host.role === 'server' && (streamId & 1) === 1 && streamId > table.lastPeerStreamId) {
      table.lastPeerStreamId = streamId;
      table.resetUnopened(streamId, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (table.isIdle(streamId)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on idle stream ${streamId}`);
    this.writer.queue(encodeRstStream(streamId, ErrorCode.PROTOCOL_ERROR));
  }

  /** Step 3, HEADERS on a stream id that is not open and not new: how it closed decides (§5.1, §5.1.1). */
  private onServerClosed(streamId: number): void {
    const table = this.table;
    const how = table.closedHow(streamId);
    if (how === ClosedHow.Ended || how === ClosedHow.ResetReceived) {
      throw new ConnectionError(ErrorCode.STREAM_CLOSED, `HEADERS on closed stream ${streamId}`);
    }
    if (how === ClosedHow.Skipped) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `new stream ${streamId} after stream ${table.lastPeerStreamId}: stream ids must increase`);
    }
    // After our RST_STREAM the frames in flight are ignored; a stream closed long ago gets a stream error.
    if (how === ClosedHow.Unknown) this.writer.queue(encodeRstStream(streamId, ErrorCode.STREAM_CLOSED));
  }

  /** Step 3, a new stream that cannot be taken: REFUSED_STREAM, counted; too many and the peer gets GOAWAY. */
  private refuse(streamId: number, reason: StreamRefusal): void {
    this.table.resetUnopened(streamId, ErrorCode.REFUSED_STREAM);
    this.host.emit('streamRefused', reason);
    if (this.refusals.onRefused() && !this.host.closing) this.host.refuseNewStreams(this.refusals.reason(reason));
  }

  /** Step 3. */
  private onServerHeaders(streamId: number, endStream: boolean, list: string[], tooLarge: boolean): void {
    const table = this.table;
    const existing = table.get(streamId);
    if (existing !== undefined) {
      // Half-closed (remote): the peer already ended the stream (§5.1).
      if (existing.remoteEnded) {
        table.reset(existing, ErrorCode.STREAM_CLOSED);
        return;
      }
      // Request trailers: they must end the stream (§8.1), and complete its content-length (§8.1.1).
      if (!endStream || existing.expectedBytes > 0) {
        table.reset(existing, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      const trailers = tooLarge ? 'header list too large' : toHeaderObject(list, 'trailers');
      if (typeof trailers === 'string') {
        table.reset(existing, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      existing.receiveTrailers(sealReceived(trailers, list, this.neverIndexed), Flags.END_STREAM);
      existing.receiveEnd();
      table.afterRemoteEnd(existing);
      return;
    }
    if ((streamId & 1) === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `client opened even stream ${streamId}`);
    if (streamId <= table.lastPeerStreamId) {
      this.onServerClosed(streamId);
      return;
    }
    table.lastPeerStreamId = streamId;
    if (this.host.closing) {
      // A peer told to calm down that keeps opening streams ignores GOAWAY: it is cut off (guards.ts, guard 6).
      if (this.host.goawayCode === ErrorCode.ENHANCE_YOUR_CALM) this.refusals.afterGoaway();
      // After our GOAWAY the stream was never processed: REFUSED_STREAM is always safe to retry.
      table.resetUnopened(streamId, ErrorCode.REFUSED_STREAM);
      return;
    }
    if (table.size >= this.maxStreams) {
      this.refuse(streamId, 'max_concurrent_streams');
      return;
    }
    const headers = tooLarge ? 'header list too large' : toHeaderObject(list, 'request');
    const expectedBytes = typeof headers === 'string' ? -1 : contentLength(headers);
    if (typeof headers === 'string' || expectedBytes === -2 || (endStream && expectedBytes > 0)) {
      table.resetUnopened(streamId, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (!table.reserve()) {
      this.refuse(streamId, 'memory_budget');
      return;
    }
    const stream = table.create(streamId);
    stream.expectedBytes = expectedBytes;
    table.addPeerStream(stream);
    this.host.emit('stream', stream, sealReceived(headers, list, this.neverIndexed), endStream ? Flags.END_STREAM : 0);
    if (endStream && !stream.closed) {
      stream.receiveEnd();
      table.afterRemoteEnd(stream);
    }
  }

  /** Step 4. */
  private onClientHeaders(streamId: number, endStream: boolean, list: string[], tooLarge: boolean): void {
    const table = this.table;
    const stream = table.get(streamId);
    if (stream === undefined) {
      if (table.isIdle(streamId)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on idle stream ${streamId}`);
      const how = table.closedHow(streamId);
      if (how === ClosedHow.Ended || how === ClosedHow.ResetReceived) throw new ConnectionError(ErrorCode.STREAM_CLOSED, `HEADERS on closed stream ${streamId}`);
      return;
    }
    if (stream.remoteEnded) {
      table.reset(stream, ErrorCode.STREAM_CLOSED);
      return;
    }
    const kind: BlockKind = stream.headersSeen ? 'trailers' : 'response';
    if (kind === 'trailers' && !endStream) {
      table.reset(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const headers = tooLarge ? 'header list too large' : toHeaderObject(list, kind);
    if (typeof headers === 'string') {
      table.reset(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (kind === 'response') {
      const status = Number(headers[':status']);
      if (status >= 100 && status < 200) {
        // Informational (1xx): nothing to relay for gRPC; END_STREAM on one is malformed (§8.1).
        if (endStream) table.reset(stream, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      stream.headersSeen = true;
      stream.receiveResponse(sealReceived(headers, list, this.neverIndexed), endStream ? Flags.END_STREAM : 0);
    } else {
      stream.receiveTrailers(sealReceived(headers, list, this.neverIndexed), Flags.END_STREAM);
    }
    if (endStream && !stream.closed) {
      stream.receiveEnd();
      table.afterRemoteEnd(stream);
    }
  }
}

/**
 * The content-length of a request (§8.1.1): its value, -1 when absent, -2 when malformed (not digits, or repeated
 * with different values).
 */
function contentLength(headers: IncomingHttpHeaders): number {
  const value = headers['content-length'] as string | string[] | undefined;
  if (value === undefined) return -1;
  const values = typeof value === 'string' ? [value] : value;
  const first = values[0] as string;
  if (!/^[0-9]{1,15}$/.test(first)) return -2;
  for (const v of values) if (v !== first) return -2;
  return Number(first);
}
