// SPDX-License-Identifier: Apache-2.0
// The streams of one connection (RFC 9113 §5.1): the table of open streams, client streams waiting for a slot,
// stream ids, how streams end, and the frames that act on streams already open (DATA, RST_STREAM, WINDOW_UPDATE).

import type { SendableHeaders } from './headers.js';
import { ClosedHow, ClosedStreams } from './closed-streams.js';
import { ConnectionError } from './errors.js';
import { type ConnectionFlow, growSendWindow, releaseStream, takeRecvWindow, takeStreamCredit } from './flow-control.js';
import { encodeRstStream, encodeWindowUpdate, ErrorCode, Flags, type Settings } from './frame.js';
import { RapidResetGuard } from './guards.js';
import { type MemoryBudget, STREAM_RESERVE_BYTES } from './memory-budget.js';
import type { Role } from './settings.js';
import { H2Stream, type StreamSession } from './stream.js';
import { StreamMap } from './stream-map.js';
import type { WriteScheduler } from './write-scheduler.js';

/** Streams closed per event-loop turn when a connection is destroyed with many open (cancelAll). */
export const TEARDOWN_BATCH = 64;

/** Stop opening streams well before the 31-bit id space ends (RFC 9113 §5.1.1). */
export const STREAM_ID_LIMIT = 2 ** 31 - 1000;

// A stream in the table (§5.1; stream.ts tracks the same states on the stream):
// 1. Opening. Client: request() gives the stream the next odd id and queues its HEADERS; while the peer's
//    SETTINGS_MAX_CONCURRENT_STREAMS is reached it waits instead (id 0, nothing on the wire, §5.1.2) and opens when
//    another stream closes or the limit rises. Server: the peer's HEADERS on a new odd id opens it
//    (incoming-headers.ts).
// 2. Half-closed: END_STREAM sent (afterLocalEnd) or received (afterRemoteEnd). A server whose response is complete
//    before the request resets the rest of the request with NO_ERROR; a client with the whole response does the
//    same with the rest of its request (§8.1): nobody would read it.
// 3. Closed: both ends done, RST_STREAM sent (reset) or received, or the connection ended (cancelAll). The stream
//    leaves the table; a waiting stream may take its slot; a closing connection completes its close with the last.
// 4. Frames for a stream not in the table: on an id never used (idle) they are a connection error (§5.1). On a
//    closed stream the answer depends on how it closed (closed-streams.ts keeps the recent ones): after our
//    RST_STREAM, frames in flight are ignored; after the peer's RST_STREAM or both END_STREAMs, DATA is a stream
//    error STREAM_CLOSED (§5.1, §6.1) and HEADERS a connection error STREAM_CLOSED (incoming-headers.ts); WINDOW_UPDATE,
//    RST_STREAM and PRIORITY are always ignored there. DATA is credited to the connection window in every case.

/** What the stream table needs from its connection (H2Connection implements it). */
export interface StreamTableHost extends StreamSession {
  /** The connection is destroyed or closed: nothing more goes on the wire. */
  readonly destroyed: boolean;
  /** No new streams (close(), a GOAWAY either way): the connection closes once the last stream has. */
  readonly closing: boolean;
  /** Step 3: the last stream closed while closing; the graceful close completes. */
  finishClose(): void;
  /** The rapid-reset guard tripped: GOAWAY ENHANCE_YOUR_CALM, no new streams (goaway.ts). */
  refuseNewStreams(reason: string): void;
}

/** The streams of one connection. */
export class StreamTable {
  /** Client: the id the next request gets. */
  nextStreamId: number;
  /** Highest stream id the peer opened (server): the GOAWAY last-stream-id. */
  lastPeerStreamId = 0;
  /** Client: performance.now() when a stream last closed on the wire (0 before any); idle timers start from it. */
  lastStreamClosedMs = 0;
  /** The open streams (stream-map.ts says why not a Map). */
  private readonly streams = new StreamMap<H2Stream>();
  /** Recently closed streams and how they closed (step 4). */
  private readonly closedStreams = new ClosedStreams();
  /** Client streams waiting for the peer's MAX_CONCURRENT_STREAMS, as pairs [stream, headers, ...]. */
  private waiting: Array<H2Stream | SendableHeaders> = [];
  /** Server: the rapid-reset guard's counts. */
  private readonly rapidReset = new RapidResetGuard();
  private readonly host: StreamTableHost;
  private readonly role: Role;
  private readonly writer: WriteScheduler;
  private readonly flow: ConnectionFlow;
  /** The peer's settings (the connection's object, updated in place). */
  private readonly remote: Settings;
  /** The stream receive window we advertise. */
  private readonly streamWindow: number;
  /** Server: the memory budget shared with the process's other connections, if any (memory-budget.ts). */
  private readonly budget: MemoryBudget | undefined;

  constructor(host: StreamTableHost, writer: WriteScheduler, flow: ConnectionFlow, remote: Settings, streamWindow: number, budget?: MemoryBudget) {
    this.host = host;
    this.budget = host.role === 'server' ? budget : undefined;
    this.role = host.role;
    this.writer = writer;
    this.flow = flow;
    this.remote = remote;
    this.streamWindow = streamWindow;
    this.nextStreamId = host.role === 'client' ? 1 : 2;
  }

  /** Streams open (closed on the wire = no longer counted, whatever their readers do). */
  get size(): number {
    return this.streams.size;
  }

  /** Client streams waiting for a slot. */
  get waitingCount(): number {
    return this.waiting.length >> 1;
  }

  /** The open stream with `id`, if any. */
  get(id: number): H2Stream | undefined {
    return this.streams.get(id);
  }

  /** A new stream object with id `id` and the current initial windows (not in the table yet). */
  create(id: number): H2Stream {
    return new H2Stream(this.host, id, this.remote.initialWindowSize, this.streamWindow);
  }

  /**
   * How stream `streamId`, not in the table and not idle, closed (step 4): from the record, else Skipped for a
   * server's id above every forgotten one (never opened: implicitly closed, §5.1.1), else Unknown.
   */
  closedHow(streamId: number): ClosedHow {
    const how = this.closedStreams.get(streamId);
    if (how !== ClosedHow.Unknown || this.role === 'client') return how;
    return streamId > this.closedStreams.forgottenMax ? ClosedHow.Skipped : ClosedHow.Unknown;
  }

  /** Server: RST_STREAM `code` on a stream that never entered the table (refused, malformed); frames after it are ignored. */
  resetUnopened(streamId: number, code: number): void {
    this.writer.queue(encodeRstStream(streamId, code));
    this.closedStreams.add(streamId, ClosedHow.ResetSent);
  }

  /** True when `streamId` was never opened by anyone (frames on it are a connection error, §5.1). */
  isIdle(streamId: number): boolean {
    if (this.role === 'client') return (streamId & 1) === 0 || streamId >= this.nextStreamId;
    // Even ids are ours and we never push, so every even stream is idle for a server.
    return (streamId & 1) === 0 || streamId > this.lastPeerStreamId;
  }

  // ---- opening (step 1) ----

  /** Client: a stream for `headers`, opened now or waiting for a slot. The caller checked it may open streams. */
  request(headers: SendableHeaders): H2Stream {
    const stream = this.create(0);
    if (this.streams.size >= this.remote.maxConcurrentStreams) {
      // Over the peer's limit: the stream waits here (id 0, nothing on the wire) until another one closes, rather
      // than being refused by the peer (RFC 9113 §5.1.2). Writes on it are held meanwhile.
      this.waiting.push(stream, headers);
      return stream;
    }
    this.open(stream, headers);
    return stream;
  }

  /** Server: reserves a new stream's share of the memory budget; false when it is spent (the stream is refused). */
  reserve(): boolean {
    return this.budget === undefined || this.budget.reserve(STREAM_RESERVE_BYTES);
  }

  /** Server: the peer opened `stream` (its HEADERS were valid, reserve() said yes): it enters the table. */
  addPeerStream(stream: H2Stream): void {
    stream.openedMs = performance.now();
    stream.budget = this.budget;
    this.rapidReset.onOpen();
    this.streams.set(stream);
  }

  /** Gives `stream` its id and sends its HEADERS (encoded now: HPACK state follows wire order). */
  private open(stream: H2Stream, headers: SendableHeaders): void {
    const id = this.nextStreamId;
    this.nextStreamId = id + 2;
    stream.id = id;
    this.streams.set(stream);
    this.writer.queueHeaders(id, headers, false);
    if (stream.pendingBytes > 0 || stream.endQueued) this.writer.queueSend(stream);
  }

  /** Opens waiting streams while the peer's limit allows. */
  openWaiting(): void {
    const waiting = this.waiting;
    while (waiting.length > 0 && this.streams.size < this.remote.maxConcurrentStreams && !this.host.destroyed) {
      const stream = waiting.shift() as H2Stream;
      const headers = waiting.shift() as SendableHeaders;
      if (stream.closed) continue;
      if (this.nextStreamId > STREAM_ID_LIMIT) {
        stream.finish(ErrorCode.REFUSED_STREAM);
        continue;
      }
      this.open(stream, headers);
    }
  }

  // ---- sending ----

  /** Sends a HEADERS frame now (headers are encoded in wire order, which HPACK requires). */
  sendHeaders(stream: H2Stream, headers: SendableHeaders, endStream: boolean): void {
    this.writer.queueHeaders(stream.id, headers, endStream);
    if (endStream) {
      stream.localEnded = true;
      this.afterLocalEnd(stream);
    }
  }

  /** Sends RST_STREAM and closes the stream (step 3). */
  reset(stream: H2Stream, code: number): void {
    if (stream.id === 0) {
      // Never sent: nothing to reset on the wire.
      const i = this.waiting.indexOf(stream);
      if (i >= 0) this.waiting.splice(i, 2);
      stream.finish(code);
      return;
    }
    if (!this.host.destroyed) this.writer.queue(encodeRstStream(stream.id, code));
    this.close(stream, code, ClosedHow.ResetSent);
  }

  /** The reader of `stream` consumed `bytes`: credit them back to the peer once half the window is used. */
  consumed(stream: H2Stream, bytes: number): void {
    if (releaseStream(stream, bytes, this.streamWindow) && !stream.remoteEnded && !stream.closed) {
      this.writer.queue(encodeWindowUpdate(stream.id, takeStreamCredit(stream)));
    }
    this.creditConnection(bytes);
  }

  /** `bytes` of DATA were read or thrown away: credit the connection window once half of it is used. */
  creditConnection(bytes: number): void {
    if (this.flow.release(bytes) && !this.host.destroyed) this.writer.queue(encodeWindowUpdate(0, this.flow.takeCredit()));
  }

  // ---- frames on open streams ----

  /** A DATA frame (§6.1); `flowLength` counts its padding too (§6.9.1). */
  onData(flags: number, streamId: number, payload: Buffer, flowLength: number): void {
    // The connection window is credited back as DATA is read (or discarded), not as it arrives: what all streams
    // of a connection hold unread is bounded by the connection window, however many streams the peer opens.
    this.flow.receive(flowLength);
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (this.isIdle(streamId)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
      this.creditConnection(flowLength);
      const how = this.closedHow(streamId);
      // Step 4: after our RST_STREAM (or long ago) frames in flight are ignored; otherwise the peer sent DATA on a
      // stream it knows is closed: a stream error STREAM_CLOSED (§5.1, §6.1), answered once.
      if (how !== ClosedHow.ResetSent && how !== ClosedHow.Unknown && !this.host.destroyed) this.resetUnopened(streamId, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (stream.remoteEnded) {
      this.creditConnection(flowLength);
      this.reset(stream, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (this.role === 'client' && !stream.headersSeen) {
      this.creditConnection(flowLength);
      this.reset(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (!takeRecvWindow(stream, flowLength)) {
      this.creditConnection(flowLength);
      this.reset(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    if (stream.expectedBytes >= 0 && !this.withinContentLength(stream, payload.length, flags)) {
      // §8.1.1: more DATA than the content-length said, or END_STREAM before all of it: malformed, not delivered.
      this.creditConnection(flowLength);
      this.reset(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (flowLength > payload.length) this.consumed(stream, flowLength - payload.length); // padding
    if (payload.length > 0) stream.receiveData(payload);
    if ((flags & Flags.END_STREAM) !== 0) {
      stream.receiveEnd();
      this.afterRemoteEnd(stream);
    }
  }

  /** Counts `bytes` of DATA against the content-length of `stream`; false when they contradict it (§8.1.1). */
  private withinContentLength(stream: H2Stream, bytes: number, flags: number): boolean {
    const left = stream.expectedBytes - bytes;
    stream.expectedBytes = left;
    return left >= 0 && (left === 0 || (flags & Flags.END_STREAM) === 0);
  }

  /** An RST_STREAM from the peer (§6.4); on a server, counted by the rapid-reset guard. */
  onRstStream(streamId: number, code: number): void {
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (this.isIdle(streamId)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
      return;
    }
    this.close(stream, code, ClosedHow.ResetReceived);
    if (this.role === 'server' && this.rapidReset.onReset(stream.localEnded, stream.openedMs) && !this.host.closing) {
      this.host.refuseNewStreams(this.rapidReset.reason());
    }
  }

  /**
   * A PRIORITY frame (§6.3): priorities are ignored (§5.3.2), but a stream that depends on itself is a stream error
   * PROTOCOL_ERROR (§5.3.1), on any stream state.
   */
  onPriority(streamId: number, dependency: number): void {
    if (dependency !== streamId) return;
    const stream = this.streams.get(streamId);
    if (stream !== undefined) this.reset(stream, ErrorCode.PROTOCOL_ERROR);
    else this.writer.queue(encodeRstStream(streamId, ErrorCode.PROTOCOL_ERROR));
  }

  /** A WINDOW_UPDATE on a stream (§6.9): increment 0 or an overflow is a stream error (§6.9.1). */
  onWindowUpdate(streamId: number, increment: number): void {
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (this.isIdle(streamId)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${streamId}`);
      return;
    }
    if (increment === 0) {
      this.reset(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (!growSendWindow(stream, increment)) {
      this.reset(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    if (stream.pendingBytes > 0 || (stream.endQueued && !stream.localEnded)) this.writer.queueSend(stream);
  }

  /** The peer's SETTINGS_INITIAL_WINDOW_SIZE changed by `delta`: every open stream's send window follows (§6.9.2). */
  applyInitialWindowDelta(delta: number): void {
    for (const stream of this.streams.list()) {
      if (!growSendWindow(stream, delta)) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE overflowed a stream window');
      if (delta > 0 && stream.pendingBytes > 0) this.writer.queueSend(stream);
    }
  }

  // ---- ends (steps 2-3) ----

  /** END_STREAM arrived on `stream` (its reader has been told). */
  afterRemoteEnd(stream: H2Stream): void {
    if (stream.closed) return;
    if (stream.localEnded) {
      this.close(stream, ErrorCode.NO_ERROR);
    } else if (this.role === 'client') {
      // The whole response is in: the rest of our request would be read by nobody (§8.1).
      this.reset(stream, ErrorCode.NO_ERROR);
    }
  }

  /** Our END_STREAM on `stream` is queued. */
  afterLocalEnd(stream: H2Stream): void {
    if (stream.closed) return;
    if (stream.remoteEnded) {
      this.close(stream, ErrorCode.NO_ERROR);
    } else if (this.role === 'server') {
      // The response is complete before the request: tell the client to stop sending, without error (§8.1).
      this.reset(stream, ErrorCode.NO_ERROR);
    }
  }

  /** `stream` is closed with `code` (nothing is sent; `how` for frames that come after it): it leaves the table. */
  close(stream: H2Stream, code: number, how: ClosedHow = ClosedHow.Ended): void {
    if (stream.closed) return;
    if (this.role === 'client') this.lastStreamClosedMs = performance.now(); // the pool's idle timer
    this.streams.delete(stream.id);
    this.closedStreams.add(stream.id, how);
    this.budget?.release(STREAM_RESERVE_BYTES);
    stream.finish(code);
    if (this.waiting.length > 0) this.openWaiting();
    if (this.host.closing && this.streams.size === 0 && this.waiting.length === 0 && !this.host.destroyed) this.host.finishClose();
  }

  /** Client, on a GOAWAY: closes the streams above `lastStreamId` and the waiting ones with REFUSED_STREAM (§6.8). */
  refuseAbove(lastStreamId: number): void {
    this.dropWaiting(ErrorCode.REFUSED_STREAM);
    for (const stream of this.streams.list()) {
      if (stream.id > lastStreamId) this.close(stream, ErrorCode.REFUSED_STREAM, ClosedHow.ResetSent);
    }
  }

  /**
   * The connection is destroyed: waiting streams close with REFUSED_STREAM, open ones with CANCEL: TEARDOWN_BATCH
   * of them now and as many per event-loop turn after that (setImmediate), so that a connection with thousands of
   * streams does not block the event loop while their calls unwind. `done` runs once the last one closed.
   */
  cancelAll(done: () => void): void {
    this.dropWaiting(ErrorCode.REFUSED_STREAM);
    this.cancelBatch(this.streams.list(), 0, done);
  }

  /** Closes `open[from...]`, TEARDOWN_BATCH of them per turn (one listing for the whole teardown). */
  private cancelBatch(open: Array<H2Stream | undefined>, from: number, done: () => void): void {
    const to = Math.min(open.length, from + TEARDOWN_BATCH);
    for (let i = from; i < to; i++) {
      const stream = open[i];
      open[i] = undefined; // the list keeps no stream alive once it is closed
      if (stream === undefined || !this.streams.delete(stream.id)) continue;
      this.budget?.release(STREAM_RESERVE_BYTES);
      stream.finish(ErrorCode.CANCEL);
    }
    if (to < open.length) setImmediate(() => this.cancelBatch(open, to, done));
    else if (this.streams.size === 0) done();
    else this.cancelBatch(this.streams.list(), 0, done);
  }

  /** Closes the streams that never went on the wire with `code` (REFUSED_STREAM: safe to send elsewhere). */
  private dropWaiting(code: number): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (let i = 0; i < waiting.length; i += 2) (waiting[i] as H2Stream).finish(code);
  }
}
