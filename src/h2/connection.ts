// SPDX-License-Identifier: Apache-2.0
// One HTTP/2 connection of meshlet's own engine (RFC 9113), server or client role, over any net.Socket (a TLS
// socket later). It composes the parts that each own one concern (docs/decisions.md §12 lists them) and drives the
// connection's life: the socket, frames read (dispatched by type), SETTINGS and GOAWAY as they arrive, closing.
//
// The connection's life:
// 1. Handshake: our preface (client) and SETTINGS are queued at once; the peer's SETTINGS must be its first frame
//    (§3.4), and a server gives it a bounded time (guards.ts).
// 2. Open: frames are handled as they are read, and what they produce is written once per event-loop turn.
// 3. Closing: after close(), a GOAWAY either way, or the rapid-reset guard, no new streams; those in flight finish,
//    then the socket is ended (goaway.ts, steps 1-3, 5): `destroyed` becomes true and 'close' is emitted.
// 4. Destroyed at once: by destroy() (a connection error, a flood, a timeout, the socket's end or failure); every
//    stream closes, with GOAWAY when there is a code (goaway.ts, step 4); 'close' is emitted once.

import { EventEmitter } from 'node:events';
import type { SendableHeaders } from './headers.js';
import type { Socket } from 'node:net';
import { ConnectionError } from './errors.js';
import { ConnectionFlow } from './flow-control.js';
import { CONNECTION_PREFACE, DEFAULT_SETTINGS, encodeSettingsAck, encodeWindowUpdate, ErrorCode, Flags, FrameError, FrameType, type Settings } from './frame.js';
import { FrameReader, type FrameSink } from './frame-reader.js';
import { GoAway, lingerAndDestroy } from './goaway.js';
import { HandshakeGuard } from './guards.js';
import { HpackError } from './hpack/errors.js';
import { type IncomingHeadersHost, IncomingHeaders } from './incoming-headers.js';
import { PingPong } from './ping.js';
import { applyPeerSettings, type H2ConnectionOptions, LocalSettings, type Role } from './settings.js';
import type { H2Stream, StreamSession } from './stream.js';
import { STREAM_ID_LIMIT, StreamTable, type StreamTableHost } from './streams.js';
import { type WriteHost, WriteScheduler } from './write-scheduler.js';

export type { H2ConnectionOptions, Role } from './settings.js';
export { STREAM_ID_LIMIT } from './streams.js';

/** A stream id or a last-stream-id is 31 bits; the reserved bit is ignored on receipt (§4.1). */
const U31 = 0x7fffffff;

/**
 * An HTTP/2 connection.
 *
 * Events: 'stream' (server: `(stream, headers, flags)` for each new request), 'remoteSettings' (`(settings)` after
 * each SETTINGS from the peer), 'goaway' (`(code, lastStreamId)`), 'close' (once, after every stream closed;
 * `closeError` says why when it was not a clean close).
 *
 * Writes are batched: frames are queued and written once per event-loop turn (setImmediate), so every call that a
 * socket read produced shares one write syscall.
 *
 * The methods after `flush` are engine-internal: the interfaces its parts depend on (StreamSession, WriteHost,
 * StreamTableHost, IncomingHeadersHost, FrameSink).
 */
export class H2Connection extends EventEmitter implements FrameSink, StreamSession, WriteHost, StreamTableHost, IncomingHeadersHost {
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

  private readonly flow: ConnectionFlow;
  private readonly writer: WriteScheduler;
  private readonly streams: StreamTable;
  private readonly headers: IncomingHeaders;
  private readonly reader: FrameReader;
  private readonly pings = new PingPong();
  private readonly goaway = new GoAway();
  private readonly handshake = new HandshakeGuard();
  private closeEmitted = false;

  constructor(socket: Socket, opts: H2ConnectionOptions) {
    super();
    this.role = opts.role;
    this.socket = socket;
    const local = new LocalSettings(opts);
    this.flow = new ConnectionFlow(local.connectionWindow);
    this.writer = new WriteScheduler(this, socket, this.remoteSettings, this.flow, local.maxUnsentBytes);
    this.streams = new StreamTable(this, this.writer, this.flow, this.remoteSettings, local.streamWindow, opts.memoryBudget);
    this.headers = new IncomingHeaders(this, this.streams, this.writer, local.maxHeaderListBytes, local.maxStreams);
    this.reader = new FrameReader(this);
    // Step 1.
    if (this.role === 'server') {
      this.reader.expectPreface();
      this.handshake.start(this, local.handshakeTimeoutMs);
    } else this.writer.queue(CONNECTION_PREFACE);
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

  /**
   * Times the peer's connection window stopped our DATA (a stream had bytes to send and the window was spent): the
   * session pool spreads calls over more connections to a peer whose window is the bottleneck.
   */
  get sendWindowStalls(): number {
    return this.flow.sendStalls;
  }

  /** Client streams waiting for the peer's MAX_CONCURRENT_STREAMS (not on the wire yet). */
  get waitingStreams(): number {
    return this.streams.waitingCount;
  }

  /** Server: the highest stream id the peer opened (0 before any); it moves whenever the peer opens a stream. */
  get lastPeerStreamId(): number {
    return this.streams.lastPeerStreamId;
  }

  /** Client: the id the next request gets. */
  get nextStreamId(): number {
    return this.streams.nextStreamId;
  }

  /** Client: performance.now() when a stream last closed on the wire (0 before any); idle timers start from it. */
  get lastStreamClosedMs(): number {
    return this.streams.lastStreamClosedMs;
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
  request(headers: SendableHeaders): H2Stream {
    if (this.role !== 'client') throw new Error('request() on a server connection');
    if (this.destroyed || this.closing || this.goaway.received) throw new Error('the HTTP/2 connection no longer accepts streams');
    if (this.streams.nextStreamId > STREAM_ID_LIMIT) throw new Error('HTTP/2 stream ids exhausted on this connection');
    return this.streams.request(headers);
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
    if (this.role === 'server') this.writer.queue(this.goaway.graceful(this.streams.lastPeerStreamId));
    if (this.streams.size === 0 && this.streams.waitingCount === 0) this.finishClose();
  }

  /**
   * Immediate close (step 4): every open stream closes (its `rstCode` is CANCEL), a GOAWAY with `code` is sent when
   * given, and the socket is destroyed. `err` becomes `closeError`.
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
      this.writer.writeNow(this.goaway.error(this.streams.lastPeerStreamId, code, err?.message));
      linger = true;
    }
    this.handshake.stop();
    this.pings.failAll(err);
    if (linger) {
      // Let the GOAWAY reach the peer (it says why) even if the socket is backed up, but not for long.
      lingerAndDestroy(this.socket);
    } else {
      this.socket.destroy();
    }
    // Many streams close over several event-loop turns (streams.ts); 'close' follows the last.
    this.streams.cancelAll(this.emitClose);
  }

  /** Writes what is queued now rather than at the end of the event-loop turn (write-scheduler.ts). */
  flush(): void {
    this.writer.flush();
  }

  // ---- engine-internal: what the parts call ----

  /** StreamSession: queues `stream` for the next flush (it has data, an end, or trailers to send). */
  queueSend(stream: H2Stream): void {
    this.writer.queueSend(stream);
  }

  /** StreamSession: sends a HEADERS frame now (headers are encoded in wire order, which HPACK requires). */
  sendHeaders(stream: H2Stream, headers: SendableHeaders, endStream: boolean): void {
    this.streams.sendHeaders(stream, headers, endStream);
  }

  /** StreamSession: sends RST_STREAM and closes the stream. */
  resetStream(stream: H2Stream, code: number): void {
    this.streams.reset(stream, code);
  }

  /** StreamSession: the reader of `stream` consumed `bytes`: credit them back once half the window is used. */
  consumed(stream: H2Stream, bytes: number): void {
    this.streams.consumed(stream, bytes);
  }

  /** StreamSession: `bytes` of DATA were thrown away: credit the connection window once half of it is used. */
  creditConnection(bytes: number): void {
    this.streams.creditConnection(bytes);
  }

  /** WriteHost: our END_STREAM on `stream` is queued: the stream closes, or the rest of the peer's is reset. */
  afterLocalEnd(stream: H2Stream): void {
    this.streams.afterLocalEnd(stream);
  }

  /**
   * StreamTableHost, the rapid-reset guard tripped: GOAWAY ENHANCE_YOUR_CALM, then a graceful close: no new streams,
   * but those in flight finish. When the peer is another proxy, they belong to other callers than the one that
   * misbehaved; the peer reconnects for new calls.
   */
  refuseNewStreams(reason: string): void {
    this.closeError = new Error(reason);
    const goaway = this.goaway.refuse(this.streams.lastPeerStreamId, reason);
    this.closing = true;
    this.writer.queue(goaway);
    if (this.streams.size === 0) this.finishClose();
  }

  /** StreamTableHost: graceful end once no stream is left (step 3): final GOAWAY (client), flush, end the socket. */
  finishClose(): void {
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

  private readonly emitClose = (): void => {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    this.emit('close');
  };

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

  /**
   * FrameSink: one frame from the reader (step 2), its payload `buf[start, end)`. Only DATA gets a view (the stream
   * keeps it); the rest is read in place. Throwing ends the connection (fail).
   */
  onFrame(type: number, flags: number, streamId: number, buf: Buffer, start: number, end: number, flowLength: number): void {
    if (!this.settingsReceived && type !== FrameType.SETTINGS) {
      // RFC 9113 §3.4: each side's preface ends with its SETTINGS, before any other frame.
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `the first frame must be SETTINGS, got frame type ${type}`);
    }
    if (this.headers.pending !== undefined && type !== FrameType.CONTINUATION) this.headers.interrupted(type);
    switch (type) {
      case FrameType.DATA:
        this.streams.onData(flags, streamId, start === 0 && end === buf.length ? buf : buf.subarray(start, end), flowLength);
        return;
      case FrameType.HEADERS:
        this.headers.onHeaders(flags, streamId, buf, start, end);
        return;
      case FrameType.CONTINUATION:
        this.headers.onContinuation(flags, streamId, buf, start, end);
        return;
      case FrameType.RST_STREAM:
        this.streams.onRstStream(streamId, buf.readUInt32BE(start));
        return;
      case FrameType.SETTINGS:
        if ((flags & Flags.ACK) === 0) this.onSettings(buf.subarray(start, end));
        return;
      case FrameType.PING:
        if ((flags & Flags.ACK) !== 0) this.pings.onAck();
        else this.writer.queue(this.pings.pong(buf.subarray(start, end)));
        return;
      case FrameType.GOAWAY:
        this.onGoaway(buf.readUInt32BE(start) & U31, buf.readUInt32BE(start + 4));
        return;
      case FrameType.WINDOW_UPDATE:
        this.onWindowUpdate(streamId, buf.readUInt32BE(start) & U31);
        return;
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE received although push is disabled');
      case FrameType.PRIORITY:
        // Priorities are ignored (RFC 9113 §5.3.2), except a stream depending on itself (§5.3.1).
        this.streams.onPriority(streamId, buf.readUInt32BE(start) & U31);
        return;
      default:
        // Unknown frame types are ignored (RFC 9113 §4.1).
        return;
    }
  }

  /** SETTINGS from the peer (settings.ts, step 3), then our ACK (§6.5.3). */
  private onSettings(payload: Buffer): void {
    this.handshake.stop();
    const remote = this.remoteSettings;
    const delta = applyPeerSettings(remote, payload);
    if (delta !== 0) this.streams.applyInitialWindowDelta(delta);
    this.writer.setPeerMaxTableSize(remote.headerTableSize);
    if (this.streams.waitingCount > 0) this.streams.openWaiting();
    this.writer.queue(encodeSettingsAck());
    this.settingsReceived = true;
    this.emit('remoteSettings', remote);
  }

  /** A GOAWAY from the peer (goaway.ts, step 5). */
  private onGoaway(lastStreamId: number, code: number): void {
    const error = this.goaway.onReceived(code);
    if (error !== undefined && this.closeError === undefined) this.closeError = error;
    // Streams above lastStreamId were never processed by the peer: they are refused, hence safe to retry (§6.8).
    if (this.role === 'client') this.streams.refuseAbove(lastStreamId);
    this.emit('goaway', code, lastStreamId);
    if (this.streams.size === 0) this.finishClose();
    else this.closing = true;
  }

  /** A WINDOW_UPDATE (§6.9): on stream 0 the connection's send window, otherwise a stream's (streams.ts). */
  private onWindowUpdate(streamId: number, increment: number): void {
    if (streamId === 0) {
      this.flow.windowUpdate(increment);
      this.writer.unblock();
      return;
    }
    this.streams.onWindowUpdate(streamId, increment);
  }
}

const HTTP1 = Buffer.from('HTTP/1.', 'latin1');

/** True when a chunk starts like an HTTP/1.x status line (as far as it goes). */
function startsWithHttp1(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, HTTP1.length);
  return n >= 4 && chunk.compare(HTTP1, 0, n, 0, n) === 0;
}
