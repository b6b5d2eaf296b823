// SPDX-License-Identifier: Apache-2.0
// One HTTP/2 connection of meshlet's own engine (RFC 9113), server or client role, over any net.Socket (a TLS
// socket later). It owns the stream map, HPACK state, flow control both ways and the write batching; streams
// (stream.ts) are thin. Why meshlet speaks HTTP/2 itself rather than through node:http2: docs/decisions.md §12.

import { EventEmitter } from 'node:events';
import { type IncomingHttpHeaders, type OutgoingHttpHeaders, sensitiveHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import {
  CONNECTION_PREFACE,
  DEFAULT_SETTINGS,
  encodeDataHeader,
  encodeHeaders,
  encodeRstStream,
  encodeSettingsAck,
  encodeWindowUpdate,
  ErrorCode,
  FrameError,
  Flags,
  FrameType,
  type Settings,
} from './frame.js';
import { ConnectionError } from './errors.js';
import { ConnectionFlow, growSendWindow, MAX_WINDOW, releaseStream, takeRecvWindow, takeStreamCredit } from './flow-control.js';
import { FrameReader, type FrameSink } from './frame-reader.js';
import { type BlockKind, toHeaderList, toHeaderObject } from './headers.js';
import {
  boundedHpackDecoder,
  checkHeaderBlockSize,
  decodeHeaderBlock,
  HandshakeGuard,
  headerBlockLimit,
  RapidResetGuard,
  unreadFlood,
} from './guards.js';
import type { HpackDecoder } from './hpack/decoder.js';
import { HpackError } from './hpack/errors.js';
import { GoAway, lingerAndDestroy } from './goaway.js';
import { PingPong } from './ping.js';
import { applyPeerSettings, type H2ConnectionOptions, LocalSettings, type Role } from './settings.js';
import { H2Stream, type StreamSession } from './stream.js';
import { type WriteHost, WriteScheduler } from './write-scheduler.js';

export type { H2ConnectionOptions, Role } from './settings.js';

/** Stop opening streams well before the 31-bit id space ends (RFC 9113 §5.1.1). */
export const STREAM_ID_LIMIT = 2 ** 31 - 1000;

interface PendingBlock {
  streamId: number;
  endStream: boolean;
  chunks: Buffer[];
  size: number;
}

/**
 * An HTTP/2 connection.
 *
 * Events: 'stream' (server: `(stream, headers, flags)` for each new request), 'remoteSettings' (`(settings)` after
 * each SETTINGS from the peer), 'goaway' (`(code, lastStreamId)`), 'close' (once, after every stream closed;
 * `closeError` says why when it was not a clean close).
 *
 * Writes are batched: frames are queued and written once per event-loop turn (setImmediate), so every call that a
 * socket read produced shares one write syscall.
 */
export class H2Connection extends EventEmitter implements FrameSink, StreamSession, WriteHost {
  readonly role: Role;
  readonly socket: Socket;
  /** The peer's settings (RFC defaults until its SETTINGS arrive). */
  readonly remoteSettings: Settings = { ...DEFAULT_SETTINGS };
  /** True once the peer's first SETTINGS arrived. */
  settingsReceived = false;
  /** Destroyed, or closed after a graceful close: no stream is left and the socket is gone or going. */
  destroyed = false;
  /** close() was called: no new streams. */
  closing = false;
  /** Why the connection ended, when it was not a clean close. */
  closeError: Error | undefined;
  /** Client: the id the next request gets. */
  nextStreamId: number;
  /** Client: performance.now() when a stream last closed on the wire (0 before any); idle timers start from it. */
  lastStreamClosedMs = 0;

  private readonly streams = new Map<number, H2Stream>();
  /** Client streams waiting for the peer's MAX_CONCURRENT_STREAMS, as pairs [stream, headers, ...]. */
  private waiting: Array<H2Stream | OutgoingHttpHeaders | IncomingHttpHeaders> = [];
  private readonly reader: FrameReader;
  private readonly decoder: HpackDecoder;
  private readonly headerList: string[] = [];
  /** Names the peer sent as HPACK never-indexed in the block being handled. */
  private readonly neverIndexed: string[] = [];
  /** Our settings and limits. */
  private readonly local: LocalSettings;
  /** Server: the rapid-reset guard's counts. */
  private readonly rapidReset = new RapidResetGuard();
  /** The CONTINUATION flood guard's bound on a header block. */
  private readonly maxHeaderBlockBytes: number;
  /** Highest stream id the peer opened (server) — the GOAWAY last-stream-id. */
  private lastPeerStreamId = 0;
  private readonly flow: ConnectionFlow;
  private readonly writer: WriteScheduler;
  private block: PendingBlock | undefined;
  private readonly pings = new PingPong();
  private readonly goaway = new GoAway();
  private closeEmitted = false;
  private readonly handshake = new HandshakeGuard();

  constructor(socket: Socket, opts: H2ConnectionOptions) {
    super();
    this.role = opts.role;
    this.socket = socket;
    const local = new LocalSettings(opts);
    this.local = local;
    this.flow = new ConnectionFlow(local.connectionWindow);
    this.writer = new WriteScheduler(this, socket, this.remoteSettings, this.flow, local.maxUnsentBytes);
    this.nextStreamId = opts.role === 'client' ? 1 : 2;
    this.decoder = boundedHpackDecoder(local.maxHeaderListBytes);
    this.maxHeaderBlockBytes = headerBlockLimit(local.maxHeaderListBytes);
    this.reader = new FrameReader(this);
    if (this.role === 'server') {
      this.reader.expectPreface();
      this.handshake.start(this, local.handshakeTimeoutMs);
    }
    else this.writer.queue(CONNECTION_PREFACE);
    this.writer.queue(local.frame());
    const increment = this.flow.openRecvWindow();
    if (increment > 0) this.writer.queue(encodeWindowUpdate(0, increment));
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('error', this.onSocketError);
    socket.on('end', this.onSocketEnd);
    socket.on('close', this.onSocketClose);
  }

  /** Streams open on this connection (closed on the wire = no longer counted, whatever their readers do). */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** Client streams waiting for the peer's MAX_CONCURRENT_STREAMS (not on the wire yet). */
  get waitingStreams(): number {
    return this.waiting.length >> 1;
  }

  /** A GOAWAY arrived: no new streams. */
  get goawayReceived(): boolean {
    return this.goaway.received;
  }

  /** The error code of the GOAWAY we sent because of the peer (protocol error, flood guard), if any. */
  get goawayCode(): number | undefined {
    return this.goaway.code;
  }

  /**
   * Why the connection ended badly, as a metric label: the HTTP/2 error name of the GOAWAY we sent (`protocol_error`,
   * `enhance_your_calm`, ...), `peer_goaway` (the peer sent one with an error), `disconnected` (the socket ended or
   * failed with streams open); undefined after a clean close.
   */
  get closeReason(): string | undefined {
    return this.goaway.closeReason(this.closeError);
  }

  // ---- public operations ----

  /**
   * Client: opens a stream with `headers` (pseudo-headers included). Throws when the connection can no longer open
   * streams (closing, GOAWAY received, destroyed, stream ids exhausted).
   */
  request(headers: OutgoingHttpHeaders | IncomingHttpHeaders): H2Stream {
    if (this.role !== 'client') throw new Error('request() on a server connection');
    if (this.destroyed || this.closing || this.goaway.received) throw new Error('the HTTP/2 connection no longer accepts streams');
    if (this.nextStreamId > STREAM_ID_LIMIT) throw new Error('HTTP/2 stream ids exhausted on this connection');
    const stream = new H2Stream(this, 0, this.remoteSettings.initialWindowSize, this.local.streamWindow);
    if (this.streams.size >= this.remoteSettings.maxConcurrentStreams) {
      // Over the peer's limit: the stream waits here (id 0, nothing on the wire) until another one closes, rather
      // than being refused by the peer (RFC 9113 §5.1.2). Writes on it are held meanwhile.
      this.waiting.push(stream, headers);
      return stream;
    }
    this.open(stream, headers);
    return stream;
  }

  /** Gives `stream` its id and sends its HEADERS (encoded now: HPACK state follows wire order). */
  private open(stream: H2Stream, headers: OutgoingHttpHeaders | IncomingHttpHeaders): void {
    const id = this.nextStreamId;
    this.nextStreamId = id + 2;
    stream.id = id;
    this.streams.set(id, stream);
    this.writer.queueHeaders(id, headers, false);
    if (stream.pendingBytes > 0 || stream.endQueued) this.queueSend(stream);
  }

  /** Opens waiting streams while the peer's limit allows. */
  private openWaiting(): void {
    const waiting = this.waiting;
    while (waiting.length > 0 && this.streams.size < this.remoteSettings.maxConcurrentStreams && !this.destroyed) {
      const stream = waiting.shift() as H2Stream;
      const headers = waiting.shift() as OutgoingHttpHeaders;
      if (stream.closed) continue;
      if (this.nextStreamId > STREAM_ID_LIMIT) {
        stream.finish(ErrorCode.REFUSED_STREAM);
        continue;
      }
      this.open(stream, headers);
    }
  }

  /** Closes the streams that never went on the wire with `code` (REFUSED_STREAM: safe to send elsewhere). */
  private dropWaiting(code: number): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (let i = 0; i < waiting.length; i += 2) (waiting[i] as H2Stream).finish(code);
  }

  /** Sends a PING; `callback` runs when its ACK arrives, or with an error if the connection ends first. */
  ping(callback: (err: Error | null) => void): void {
    if (this.destroyed) {
      callback(new Error('connection closed'));
      return;
    }
    this.writer.queue(this.pings.ping(callback));
  }

  /**
   * Graceful close (node's session.close()): server sends GOAWAY with the last stream it accepted, so the client
   * retries later streams elsewhere; no new streams either way; the socket ends once every stream has closed.
   */
  close(): void {
    if (this.closing || this.destroyed) return;
    this.closing = true;
    if (this.role === 'server') this.writer.queue(this.goaway.graceful(this.lastPeerStreamId));
    if (this.streams.size === 0 && this.waiting.length === 0) this.finishClose();
  }

  /**
   * Immediate close: every open stream closes (its `rstCode` is CANCEL), a GOAWAY with `code` is sent when given,
   * and the socket is destroyed. `err` becomes `closeError`.
   */
  destroy(err?: Error, code?: number): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.closing = true;
    if (err !== undefined) this.closeError = err;
    this.reader.stop();
    let linger = false;
    if (code !== undefined) this.goaway.code = code;
    if (code !== undefined && !this.socket.destroyed) {
      this.writer.writeNow(this.goaway.error(this.lastPeerStreamId, code, err?.message));
      linger = true;
    }
    this.handshake.stop();
    this.pings.failAll(err);
    for (const stream of [...this.streams.values()]) {
      this.streams.delete(stream.id);
      stream.finish(ErrorCode.CANCEL);
    }
    this.dropWaiting(ErrorCode.REFUSED_STREAM);
    if (linger) {
      // Let the GOAWAY reach the peer (it says why) even if the socket is backed up, but not for long.
      lingerAndDestroy(this.socket);
    } else {
      this.socket.destroy();
    }
    this.emitClose();
  }

  // ---- used by H2Stream ----

  /** Queues `stream` for the next flush (it has data, an end, or trailers to send). */
  queueSend(stream: H2Stream): void {
    this.writer.queueSend(stream);
  }

  /** Writes what is queued now rather than at the end of the event-loop turn (write-scheduler.ts). */
  flush(): void {
    this.writer.flush();
  }

  /** Sends a HEADERS frame now (headers are encoded in wire order, which HPACK requires). */
  sendHeaders(stream: H2Stream, headers: OutgoingHttpHeaders, endStream: boolean): void {
    this.writer.queueHeaders(stream.id, headers, endStream);
    if (endStream) {
      stream.localEnded = true;
      this.afterLocalEnd(stream);
    }
  }

  /** Sends RST_STREAM and closes the stream. */
  resetStream(stream: H2Stream, code: number): void {
    if (stream.id === 0) {
      // Never sent: nothing to reset on the wire.
      const i = this.waiting.indexOf(stream);
      if (i >= 0) this.waiting.splice(i, 2);
      stream.finish(code);
      return;
    }
    if (!this.destroyed) this.writer.queue(encodeRstStream(stream.id, code));
    this.closeStream(stream, code);
  }

  /** The reader of `stream` consumed `bytes`: credit them back to the peer once half the window is used. */
  consumed(stream: H2Stream, bytes: number): void {
    if (releaseStream(stream, bytes, this.local.streamWindow) && !stream.remoteEnded && !stream.closed) {
      this.writer.queue(encodeWindowUpdate(stream.id, takeStreamCredit(stream)));
    }
    this.creditConnection(bytes);
  }

  /** `bytes` of DATA were read or thrown away: credit the connection window once half of it is used. */
  creditConnection(bytes: number): void {
    if (this.flow.release(bytes) && !this.destroyed) this.writer.queue(encodeWindowUpdate(0, this.flow.takeCredit()));
  }

  // ---- socket events ----

  private readonly onData = (chunk: Buffer): void => {
    try {
      if (!this.settingsReceived && this.role === 'client' && startsWithHttp1(chunk)) {
        // A common misconfiguration (an HTTP/1.1 port): say so, rather than a framing error on "HTTP/1.1 400".
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'the peer answered in HTTP/1.x: it does not speak HTTP/2 (h2c with prior knowledge)');
      }
      this.reader.push(chunk);
    } catch (err) {
      this.fail(err);
    }
  };

  private readonly onDrain = (): void => {
    this.writer.unblock();
  };

  private readonly onSocketError = (err: Error): void => {
    this.destroy(err);
  };

  private readonly onSocketEnd = (): void => {
    // The peer closed its side: nothing more can arrive, so streams still open are lost.
    if (this.streams.size > 0 && this.closeError === undefined) this.closeError = new Error('the peer closed the connection');
    this.destroy();
  };

  private readonly onSocketClose = (): void => {
    if (this.streams.size > 0 && this.closeError === undefined) this.closeError = new Error('the connection closed');
    this.destroy();
  };

  /** Ends the connection for an error raised while reading: GOAWAY with the matching code, then destroy. */
  private fail(err: unknown): void {
    if (err instanceof FrameError || err instanceof ConnectionError) {
      this.destroy(err, err.code);
    } else if (err instanceof HpackError) {
      this.destroy(err, ErrorCode.COMPRESSION_ERROR);
    } else {
      this.destroy(err instanceof Error ? err : new Error(String(err)), ErrorCode.INTERNAL_ERROR);
    }
  }

  // ---- frames in ----

  onFrame(type: number, flags: number, streamId: number, payload: Buffer, flowLength: number): void {
    if (!this.settingsReceived && type !== FrameType.SETTINGS) {
      // RFC 9113 §3.4: each side's preface ends with its SETTINGS, before any other frame.
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `the first frame must be SETTINGS, got frame type ${type}`);
    }
    if (this.block !== undefined && type !== FrameType.CONTINUATION) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `expected CONTINUATION for stream ${this.block.streamId}, got frame type ${type}`);
    }
    switch (type) {
      case FrameType.DATA:
        this.onDataFrame(flags, streamId, payload, flowLength);
        return;
      case FrameType.HEADERS:
        if ((flags & Flags.END_HEADERS) !== 0) {
          this.onHeaderBlock(streamId, (flags & Flags.END_STREAM) !== 0, payload);
        } else {
          this.block = { streamId, endStream: (flags & Flags.END_STREAM) !== 0, chunks: [Buffer.from(payload)], size: payload.length };
        }
        return;
      case FrameType.CONTINUATION:
        this.onContinuation(flags, streamId, payload);
        return;
      case FrameType.RST_STREAM:
        this.onRstStream(streamId, payload.readUInt32BE(0));
        return;
      case FrameType.SETTINGS:
        if ((flags & Flags.ACK) === 0) this.onSettings(payload);
        return;
      case FrameType.PING:
        if ((flags & Flags.ACK) !== 0) this.pings.onAck();
        else this.writer.queue(this.pings.pong(payload));
        return;
      case FrameType.GOAWAY:
        this.onGoaway(payload.readUInt32BE(0) & MAX_WINDOW, payload.readUInt32BE(4));
        return;
      case FrameType.WINDOW_UPDATE:
        this.onWindowUpdate(streamId, payload.readUInt32BE(0) & MAX_WINDOW);
        return;
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE received although push is disabled');
      default:
        // PRIORITY and unknown frame types are ignored (RFC 9113 §5.3.2, §4.1).
        return;
    }
  }

  private onDataFrame(flags: number, streamId: number, payload: Buffer, flowLength: number): void {
    // The connection window is credited back as DATA is read (or discarded), not as it arrives: what all streams
    // of a connection hold unread is bounded by the connection window, however many streams the peer opens.
    this.flow.receive(flowLength);
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (this.isIdleStreamId(streamId)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
      this.creditConnection(flowLength);
      return; // a stream we already closed or reset: frames in flight are ignored (§5.1)
    }
    if (stream.remoteEnded) {
      this.creditConnection(flowLength);
      this.resetStream(stream, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (this.role === 'client' && !stream.headersSeen) {
      this.creditConnection(flowLength);
      this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (!takeRecvWindow(stream, flowLength)) {
      this.creditConnection(flowLength);
      this.resetStream(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    if (flowLength > payload.length) this.consumed(stream, flowLength - payload.length); // padding
    if (payload.length > 0) stream.receiveData(payload);
    if ((flags & Flags.END_STREAM) !== 0) {
      stream.receiveEnd();
      this.afterRemoteEnd(stream);
    }
  }

  private onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const block = this.block;
    if (block === undefined || block.streamId !== streamId) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `unexpected CONTINUATION on stream ${streamId}`);
    }
    block.chunks.push(Buffer.from(payload));
    block.size += payload.length;
    checkHeaderBlockSize(block.size, this.maxHeaderBlockBytes, streamId);
    if ((flags & Flags.END_HEADERS) === 0) return;
    this.block = undefined;
    this.onHeaderBlock(streamId, block.endStream, Buffer.concat(block.chunks, block.size));
  }

  /** A complete header block. It is always decoded, even for a stream we ignore: HPACK state must stay in sync. */
  private onHeaderBlock(streamId: number, endStream: boolean, block: Buffer): void {
    const list = this.headerList;
    list.length = 0;
    const never = this.neverIndexed;
    never.length = 0;
    const tooLarge = decodeHeaderBlock(this.decoder, block, list, never);
    if (this.role === 'server') this.onServerHeaders(streamId, endStream, list, tooLarge);
    else this.onClientHeaders(streamId, endStream, list, tooLarge);
  }

  private onServerHeaders(streamId: number, endStream: boolean, list: string[], tooLarge: boolean): void {
    const existing = this.streams.get(streamId);
    if (existing !== undefined) {
      // Request trailers: they must end the stream (§8.1).
      if (!endStream || existing.remoteEnded) {
        this.resetStream(existing, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      const trailers = tooLarge ? 'header list too large' : toHeaderObject(list, 'trailers');
      if (typeof trailers === 'string') {
        this.resetStream(existing, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      existing.emit('trailers', this.markNeverIndexed(trailers), Flags.END_STREAM);
      existing.receiveEnd();
      this.afterRemoteEnd(existing);
      return;
    }
    if ((streamId & 1) === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `client opened even stream ${streamId}`);
    if (streamId <= this.lastPeerStreamId) {
      // A stream that was closed: HEADERS on it is a stream error (§5.1), already decoded above.
      this.writer.queue(encodeRstStream(streamId, ErrorCode.STREAM_CLOSED));
      return;
    }
    this.lastPeerStreamId = streamId;
    if (this.closing || this.streams.size >= this.local.maxStreams) {
      // After our GOAWAY (or over the limit) the stream was never processed: REFUSED_STREAM is always safe to retry.
      this.writer.queue(encodeRstStream(streamId, ErrorCode.REFUSED_STREAM));
      return;
    }
    const headers = tooLarge ? 'header list too large' : toHeaderObject(list, 'request');
    if (typeof headers === 'string') {
      this.writer.queue(encodeRstStream(streamId, ErrorCode.PROTOCOL_ERROR));
      return;
    }
    const stream = new H2Stream(this, streamId, this.remoteSettings.initialWindowSize, this.local.streamWindow);
    stream.openedMs = performance.now();
    this.rapidReset.onOpen();
    this.streams.set(streamId, stream);
    this.emit('stream', stream, this.markNeverIndexed(headers), endStream ? Flags.END_STREAM : 0);
    if (endStream && !stream.closed) {
      stream.receiveEnd();
      this.afterRemoteEnd(stream);
    }
  }

  private onClientHeaders(streamId: number, endStream: boolean, list: string[], tooLarge: boolean): void {
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (this.isIdleStreamId(streamId)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on idle stream ${streamId}`);
      return;
    }
    if (stream.remoteEnded) {
      this.resetStream(stream, ErrorCode.STREAM_CLOSED);
      return;
    }
    const kind: BlockKind = stream.headersSeen ? 'trailers' : 'response';
    if (kind === 'trailers' && !endStream) {
      this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const headers = tooLarge ? 'header list too large' : toHeaderObject(list, kind);
    if (typeof headers === 'string') {
      this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (kind === 'response') {
      const status = Number(headers[':status']);
      if (status >= 100 && status < 200) {
        // Informational (1xx): nothing to relay for gRPC; END_STREAM on one is malformed (§8.1).
        if (endStream) this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      stream.headersSeen = true;
      stream.emit('response', this.markNeverIndexed(headers), endStream ? Flags.END_STREAM : 0);
    } else {
      stream.emit('trailers', this.markNeverIndexed(headers), Flags.END_STREAM);
    }
    if (endStream && !stream.closed) {
      stream.receiveEnd();
      this.afterRemoteEnd(stream);
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

  /** True when `streamId` was never opened by anyone (frames on it are a connection error, §5.1). */
  private isIdleStreamId(streamId: number): boolean {
    if (this.role === 'client') return (streamId & 1) === 0 || streamId >= this.nextStreamId;
    // Even ids are ours and we never push, so every even stream is idle for a server.
    return (streamId & 1) === 0 || streamId > this.lastPeerStreamId;
  }

  private onRstStream(streamId: number, code: number): void {
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (this.isIdleStreamId(streamId)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
      return;
    }
    this.closeStream(stream, code);
    if (this.role === 'server' && this.rapidReset.onReset(stream.localEnded, stream.openedMs) && !this.closing) {
      this.refuseNewStreams(this.rapidReset.reason());
    }
  }

  private onSettings(payload: Buffer): void {
    this.handshake.stop();
    const remote = this.remoteSettings;
    const delta = applyPeerSettings(remote, payload);
    if (delta !== 0) {
      for (const stream of this.streams.values()) {
        if (!growSendWindow(stream, delta)) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE overflowed a stream window');
        if (delta > 0 && stream.pendingBytes > 0) this.queueSend(stream);
      }
    }
    this.writer.setPeerMaxTableSize(remote.headerTableSize);
    if (this.waiting.length > 0) this.openWaiting();
    this.writer.queue(encodeSettingsAck());
    this.settingsReceived = true;
    this.emit('remoteSettings', remote);
  }

  private onGoaway(lastStreamId: number, code: number): void {
    const error = this.goaway.onReceived(code);
    if (error !== undefined && this.closeError === undefined) this.closeError = error;
    if (this.role === 'client') {
      // Streams above lastStreamId were never processed by the peer: they are refused, hence safe to retry (§6.8).
      this.dropWaiting(ErrorCode.REFUSED_STREAM);
      for (const stream of [...this.streams.values()]) {
        if (stream.id > lastStreamId) this.closeStream(stream, ErrorCode.REFUSED_STREAM);
      }
    }
    this.emit('goaway', code, lastStreamId);
    if (this.streams.size === 0) this.finishClose();
    else this.closing = true;
  }

  private onWindowUpdate(streamId: number, increment: number): void {
    if (streamId === 0) {
      this.flow.windowUpdate(increment);
      this.writer.unblock();
      return;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (this.isIdleStreamId(streamId)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${streamId}`);
      return;
    }
    if (increment === 0) {
      this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (!growSendWindow(stream, increment)) {
      this.resetStream(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    if (stream.pendingBytes > 0 || (stream.endQueued && !stream.localEnded)) this.queueSend(stream);
  }

  /**
   * GOAWAY ENHANCE_YOUR_CALM, then a graceful close: no new streams, but those in flight finish. When the peer is
   * another proxy, they belong to other callers than the one that misbehaved; the peer reconnects for new calls.
   */
  private refuseNewStreams(reason: string): void {
    this.closeError = new Error(reason);
    const goaway = this.goaway.refuse(this.lastPeerStreamId, reason);
    this.closing = true;
    this.writer.queue(goaway);
    if (this.streams.size === 0) this.finishClose();
  }

  // ---- stream ends ----

  private afterRemoteEnd(stream: H2Stream): void {
    if (stream.closed) return;
    if (stream.localEnded) {
      this.closeStream(stream, ErrorCode.NO_ERROR);
    } else if (this.role === 'client') {
      // The whole response is in: the rest of our request would be read by nobody (§8.1).
      this.resetStream(stream, ErrorCode.NO_ERROR);
    }
  }

  /** Our END_STREAM on `stream` is queued (WriteHost): the stream closes, or the rest of the peer's is reset. */
  afterLocalEnd(stream: H2Stream): void {
    if (stream.closed) return;
    if (stream.remoteEnded) {
      this.closeStream(stream, ErrorCode.NO_ERROR);
    } else if (this.role === 'server') {
      // The response is complete before the request: tell the client to stop sending, without error (§8.1).
      this.resetStream(stream, ErrorCode.NO_ERROR);
    }
  }

  private closeStream(stream: H2Stream, code: number): void {
    if (stream.closed) return;
    if (this.role === 'client') this.lastStreamClosedMs = performance.now(); // the pool's idle timer
    this.streams.delete(stream.id);
    stream.finish(code);
    if (this.waiting.length > 0) this.openWaiting();
    if (this.closing && this.streams.size === 0 && this.waiting.length === 0 && !this.destroyed) this.finishClose();
  }

  /** Graceful end once no stream is left: final GOAWAY (client), flush, end the socket. */
  private finishClose(): void {
    this.closing = true;
    if (this.destroyed) return;
    this.handshake.stop();
    if (this.role === 'client' && !this.goaway.received) this.writer.queue(this.goaway.final());
    this.writer.writeOut();
    this.destroyed = true;
    this.reader.stop();
    this.socket.end();
    this.emitClose();
  }

  private emitClose(): void {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    this.emit('close');
  }

}


const HTTP1 = Buffer.from('HTTP/1.', 'latin1');

/** True when a chunk starts like an HTTP/1.x status line (as far as it goes). */
function startsWithHttp1(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, HTTP1.length);
  return n >= 4 && chunk.compare(HTTP1, 0, n, 0, n) === 0;
}
