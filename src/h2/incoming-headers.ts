// SPDX-License-Identifier: Apache-2.0
// Header blocks from the peer (RFC 9113 §4.3, §6.2, §6.10): HEADERS and CONTINUATION assembled into one block,
// decoded with HPACK, and what the block means for each role: a new request, request trailers, a response (or an
// informational one), response trailers.

import { type IncomingHttpHeaders, sensitiveHeaders } from 'node:http2';
import { ConnectionError } from './errors.js';
import { encodeRstStream, ErrorCode, Flags } from './frame.js';
import { boundedHpackDecoder, checkHeaderBlockSize, decodeHeaderBlock, headerBlockLimit } from './guards.js';
import { type BlockKind, toHeaderObject } from './headers.js';
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
// 3. Server: HEADERS on a new odd id above every earlier one opens a stream ('stream' event) unless we are closing
//    or at our SETTINGS_MAX_CONCURRENT_STREAMS (REFUSED_STREAM: never processed, safe to retry, §8.7); on an open
//    stream they are the request's trailers and must end it (§8.1); on a closed one, STREAM_CLOSED (§5.1).
// 4. Client: on an open stream, the first block is the response ('response'), after 1xx informational ones that
//    are dropped (gRPC has no use for them); the next is the trailers and must end the stream (§8.1).
// Fields the peer sent as never-indexed are marked on the header object, so that forwarding them keeps them so.

/** A header block waiting for its CONTINUATION frames (step 1). */
interface PendingBlock {
  streamId: number;
  endStream: boolean;
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
}

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

  /** A HEADERS frame (its padding and priority already stripped). */
  onHeaders(flags: number, streamId: number, payload: Buffer): void {
    if ((flags & Flags.END_HEADERS) !== 0) {
      this.onHeaderBlock(streamId, (flags & Flags.END_STREAM) !== 0, payload);
    } else {
      this.pending = { streamId, endStream: (flags & Flags.END_STREAM) !== 0, chunks: [Buffer.from(payload)], size: payload.length };
    }
  }

  /** A CONTINUATION frame (step 1). */
  onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const block = this.pending;
    if (block === undefined || block.streamId !== streamId) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `unexpected CONTINUATION on stream ${streamId}`);
    }
    block.chunks.push(Buffer.from(payload));
    block.size += payload.length;
    checkHeaderBlockSize(block.size, this.maxBlockBytes, streamId);
    if ((flags & Flags.END_HEADERS) === 0) return;
    this.pending = undefined;
    this.onHeaderBlock(streamId, block.endStream, Buffer.concat(block.chunks, block.size));
  }

  /** Step 2: a complete header block. */
  private onHeaderBlock(streamId: number, endStream: boolean, block: Buffer): void {
    const list = this.headerList;
    list.length = 0;
    const never = this.neverIndexed;
    never.length = 0;
    const tooLarge = decodeHeaderBlock(this.decoder, block, list, never);
    if (this.host.role === 'server') this.onServerHeaders(streamId, endStream, list, tooLarge);
    else this.onClientHeaders(streamId, endStream, list, tooLarge);
  }

  /** Step 3. */
  private onServerHeaders(streamId: number, endStream: boolean, list: string[], tooLarge: boolean): void {
    const table = this.table;
    const existing = table.get(streamId);
    if (existing !== undefined) {
      // Request trailers: they must end the stream (§8.1).
      if (!endStream || existing.remoteEnded) {
        table.reset(existing, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      const trailers = tooLarge ? 'header list too large' : toHeaderObject(list, 'trailers');
      if (typeof trailers === 'string') {
        table.reset(existing, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      existing.emit('trailers', this.markNeverIndexed(trailers), Flags.END_STREAM);
      existing.receiveEnd();
      table.afterRemoteEnd(existing);
      return;
    }
    if ((streamId & 1) === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `client opened even stream ${streamId}`);
    if (streamId <= table.lastPeerStreamId) {
      // A stream that was closed: HEADERS on it is a stream error (§5.1), already decoded above.
      this.writer.queue(encodeRstStream(streamId, ErrorCode.STREAM_CLOSED));
      return;
    }
    table.lastPeerStreamId = streamId;
    if (this.host.closing || table.size >= this.maxStreams) {
      // After our GOAWAY (or over the limit) the stream was never processed: REFUSED_STREAM is always safe to retry.
      this.writer.queue(encodeRstStream(streamId, ErrorCode.REFUSED_STREAM));
      return;
    }
    const headers = tooLarge ? 'header list too large' : toHeaderObject(list, 'request');
    if (typeof headers === 'string') {
      this.writer.queue(encodeRstStream(streamId, ErrorCode.PROTOCOL_ERROR));
      return;
    }
    const stream = table.create(streamId);
    table.addPeerStream(stream);
    this.host.emit('stream', stream, this.markNeverIndexed(headers), endStream ? Flags.END_STREAM : 0);
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
      stream.emit('response', this.markNeverIndexed(headers), endStream ? Flags.END_STREAM : 0);
    } else {
      stream.emit('trailers', this.markNeverIndexed(headers), Flags.END_STREAM);
    }
    if (endStream && !stream.closed) {
      stream.receiveEnd();
      table.afterRemoteEnd(stream);
    }
  }

  /**
   * Marks the fields the peer sent never-indexed on the header object (node's `http2.sensitiveHeaders`), so that
   * forwarding them encodes them never-indexed again, as RFC 7541 §7.1.3 requires of an intermediary.
   */
  private markNeverIndexed(headers: IncomingHttpHeaders): IncomingHttpHeaders {
    if (this.neverIndexed.length > 0) (headers as Record<symbol, unknown>)[sensitiveHeaders] = this.neverIndexed.slice();
    return headers;
  }
}
