// SPDX-License-Identifier: Apache-2.0
// One HTTP/2 stream of meshlet's engine (its connection owns the wire: streams.ts, write-scheduler.ts). Shaped like
// the subset of node's Http2Stream the proxy uses: a readable side ('data', 'end', pause/resume) and a writable side
// (write/end with 'drain'), plus respond/sendTrailers/close and 'response'/'trailers'/'close' events. The request
// path uses the same signals without events: a reader, a watcher and a drain waiter, objects the engine calls
// directly, so a call through the proxy allocates no listener closures (decisions §21).

import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http2';
import type { SendableHeaders } from './headers.js';
import type { MemoryBudget } from './memory-budget.js';

/**
 * What a stream needs from its connection, and all it knows of it: H2Connection (connection.ts) implements it, so
 * this file imports nothing from there. `role` and `ping` are also what a stream's user reaches through
 * `stream.session`, as with node's Http2Stream; the rest is engine-internal.
 */
export interface StreamSession {
  readonly role: 'server' | 'client';
  /** Sends a PING; `callback` runs when its ACK arrives (RFC 9113 §6.7), or with an error if the connection ends. */
  ping(callback: (err: Error | null) => void): void;
  /** Queues `stream` for the next flush: it has DATA, an end, or trailers to send. */
  queueSend(stream: H2Stream): void;
  /** Sends HEADERS for `stream` now (HPACK state follows wire order); `endStream` ends our side with them. */
  sendHeaders(stream: H2Stream, headers: SendableHeaders, endStream: boolean): void;
  /** Sends RST_STREAM `code` and closes `stream` (RFC 9113 §6.4). */
  resetStream(stream: H2Stream, code: number): void;
  /** The reader of `stream` consumed `bytes` of DATA: they may be credited back to the peer (RFC 9113 §6.9). */
  consumed(stream: H2Stream, bytes: number): void;
  /** `bytes` of DATA were thrown away unread: they are credited back to the connection window only. */
  creditConnection(bytes: number): void;
}

/**
 * Reads a stream's body: `onStreamData` for each DATA payload while flowing, `onStreamEnd` once after the last
 * (END_STREAM). Set with `readInto`; the engine calls it directly, before any 'data'/'end' listeners.
 */
export interface StreamReader {
  onStreamData(chunk: Buffer): void;
  onStreamEnd(): void;
}

/**
 * Watches a stream's life, set with `watch`: `onStreamClose` once when it closes (as 'close'); on a client stream
 * also the response headers and the trailers (as 'response' and 'trailers').
 */
export interface StreamWatcher {
  onStreamClose(): void;
  onStreamResponse?(headers: IncomingHttpHeaders, flags: number): void;
  onStreamTrailers?(trailers: IncomingHttpHeaders): void;
}

/** Waits for a stream's write buffer to drain once (as `once('drain')`), set with `waitDrain`. */
export interface DrainWaiter {
  onStreamDrain(): void;
}

/** write() returns false once this many bytes wait to be sent on the stream (node's default highWaterMark). */
export const STREAM_HIGH_WATER_BYTES = 64 * 1024;

/**
 * Stream life (RFC 9113 §5.1), as this engine tracks it:
 * 1. open: HEADERS went out (client) or came in (server).
 * 2. half-closed: END_STREAM sent (`localEnded`) or received (`remoteEnded`).
 * 3. closed: both ends done, or RST_STREAM sent/received, or the connection died. 'close' is emitted once, after
 *    'end' when the peer ended normally; `rstCode` then holds the reset code (0 = NO_ERROR).
 * A server that ends its response before the request ended resets the rest with NO_ERROR (§8.1); a client that
 * got the whole response does the same, so neither side waits on a body nobody will read.
 */
// H2Stream is an EventEmitter without EventEmitter's constructor: the prototype chain is set below, and the emitter's
// own fields start empty. Node's EventEmitter methods create the listener table on the first `on`, so a stream whose
// signals all go to its reader, watcher and drain waiter never allocates one (about 230 bytes a stream).
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface H2Stream extends EventEmitter {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class H2Stream {
  // EventEmitter's own fields (node's lib/events.js), declared so every stream has one shape; filled in on first use.
  _events: object | undefined = undefined;
  _eventsCount = 0;
  _maxListeners: number | undefined = undefined;

  /** Stream id; 0 while a client stream waits for the peer's MAX_CONCURRENT_STREAMS to allow it (streams.ts). */
  id: number;
  /** The connection the stream is on (an H2Connection). */
  readonly session: StreamSession;
  /** Reset code once closed; 0 for a normal close. */
  rstCode: number | undefined;
  closed = false;
  /** END_STREAM received from the peer. */
  remoteEnded = false;
  /** END_STREAM written by us. */
  localEnded = false;
  /** end()/sendTrailers() called: nothing more may be written. */
  endQueued = false;
  /** Response headers were sent (server) or received (client). */
  headersSeen = false;
  /** performance.now() when a server stream opened (the rapid-reset guard); 0 for client streams. */
  openedMs = 0;
  /** Server: request body bytes its content-length still announces (RFC 9113 §8.1.1); -1 without content-length. */
  expectedBytes = -1;

  // Receive side (engine-internal).
  /** Bytes the peer may still send before our next WINDOW_UPDATE. */
  recvWindow: number;
  /** Bytes delivered to the reader and not yet credited back to the peer. */
  unacked = 0;
  /** Server: the shared budget that data held in `inbox` counts against (memory-budget.ts), if any. */
  budget: MemoryBudget | undefined;
  private reader: StreamReader | undefined;
  private watcher: StreamWatcher | undefined;
  private drainWaiter: DrainWaiter | undefined;
  /** observeData's listeners: they see the data but, unlike 'data' listeners, are not readers. */
  private observers: Array<(chunk: Buffer) => void> | undefined;
  private inbox: Buffer[] | undefined;
  /** Bytes held in `inbox` (not yet credited to the connection window). */
  private inboxBytes = 0;
  private flowing = false;
  private explicitlyPaused = false;
  private deliveryScheduled = false;
  private endEmitted = false;
  /** finish(0) came while 'end' was still owed to the reader: 'close' is emitted right after 'end'. */
  private closeAfterEnd = false;

  // Send side (engine-internal).
  /** Bytes we may still send (the peer's window for this stream). May go negative after a SETTINGS change. */
  sendWindow: number;
  /** Data waiting for flow-control window, oldest first; `pendingOffset` bytes of the first are already sent. */
  pending: Buffer[] = [];
  pendingOffset = 0;
  pendingBytes = 0;
  /** Trailers to send once `pending` is empty (with END_STREAM). */
  trailers: SendableHeaders | undefined;
  /** True while the connection has this stream in its send queue. */
  queued = false;
  private needDrain = false;

  constructor(session: StreamSession, id: number, sendWindow: number, recvWindow: number) {
    this.session = session;
    this.id = id;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  get destroyed(): boolean {
    return this.closed;
  }

  /** True once end()/sendTrailers() was called (node's Writable#writableEnded). */
  get writableEnded(): boolean {
    return this.endQueued;
  }

  // ---- readable side ----

  /** Adding a 'data' listener starts the flow unless the stream was paused explicitly (as node's Readable does). */
  on(event: string | symbol, listener: (...args: any[]) => void): this {
    emitterOn.call(this, event, listener);
    if (event === 'data' && !this.explicitlyPaused) this.resume();
    return this;
  }

  addListener(event: string | symbol, listener: (...args: any[]) => void): this {
    return this.on(event, listener);
  }

  /**
   * Makes `reader` the stream's reader and starts the flow (as attaching 'data' does, unless paused explicitly).
   * Data already held is delivered before this returns, and the end with it: the reader gets both, so nothing
   * waits for a tick. `undefined` detaches the reader; the flow goes on (what arrives is consumed unread).
   */
  readInto(reader: StreamReader | undefined): void {
    this.reader = reader;
    if (reader === undefined || this.explicitlyPaused || this.flowing) return;
    this.flowing = true;
    if (!this.deliveryScheduled) this.deliver();
  }

  /** Makes `watcher` the stream's watcher (one per stream; `undefined` removes it). */
  watch(watcher: StreamWatcher | undefined): void {
    this.watcher = watcher;
  }

  /** Calls `waiter` once, at the next 'drain' (one waiter per stream; `undefined` removes it). */
  waitDrain(waiter: DrainWaiter | undefined): void {
    this.drainWaiter = waiter;
  }

  /**
   * Adds a listener that sees every chunk delivered, after the reader: unlike `on('data')` it does not start the
   * flow, and it does not count as a reader (a server stream nobody reads still drops its body on close). For
   * counters that see the chunks a reader reads.
   */
  observeData(listener: (chunk: Buffer) => void): void {
    (this.observers ??= []).push(listener);
  }

  /** One chunk to the reader, the observers and the 'data' listeners, in that order. */
  private dispatchData(chunk: Buffer): void {
    this.reader?.onStreamData(chunk);
    const observers = this.observers;
    if (observers !== undefined) for (const observe of observers) observe(chunk);
    this.emit('data', chunk);
  }

  pause(): this {
    this.explicitlyPaused = true;
    this.flowing = false;
    return this;
  }

  resume(): this {
    this.explicitlyPaused = false;
    if (this.flowing) return this;
    this.flowing = true;
    if ((this.inbox !== undefined || (this.remoteEnded && !this.endEmitted)) && !this.deliveryScheduled) {
      // Delivered on the next tick, like node's Readable: a caller that attaches 'data' then 'end' gets both.
      this.deliveryScheduled = true;
      process.nextTick(deliverInbox, this);
    }
    return this;
  }

  isPaused(): boolean {
    return this.explicitlyPaused;
  }

  /** Engine: DATA payload arrived (already counted against `recvWindow`). */
  receiveData(chunk: Buffer): void {
    if (this.flowing && this.inbox === undefined && !this.deliveryScheduled) {
      this.dispatchData(chunk);
      this.session.consumed(this, chunk.length);
      return;
    }
    if (this.inbox === undefined) this.inbox = [chunk];
    else this.inbox.push(chunk);
    this.inboxBytes += chunk.length;
    this.budget?.hold(chunk.length);
  }

  /** Engine: END_STREAM arrived. 'end' follows the data still held. */
  receiveEnd(): void {
    this.remoteEnded = true;
    if (this.flowing && this.inbox === undefined && !this.deliveryScheduled) this.emitEnd();
  }

  /** Drains the inbox while flowing. */
  deliver(): void {
    this.deliveryScheduled = false;
    let inbox = this.inbox;
    while (inbox !== undefined && this.flowing) {
      const chunk = inbox.shift() as Buffer;
      this.inboxBytes -= chunk.length;
      this.budget?.release(chunk.length);
      if (inbox.length === 0) {
        this.inbox = undefined;
        inbox = undefined;
      }
      this.dispatchData(chunk);
      this.session.consumed(this, chunk.length);
      inbox = this.inbox;
    }
    if (this.inbox === undefined && this.flowing && this.remoteEnded) this.emitEnd();
  }

  private emitEnd(): void {
    if (this.endEmitted) return;
    this.endEmitted = true;
    this.reader?.onStreamEnd();
    this.emit('end');
    if (this.closeAfterEnd) {
      this.closeAfterEnd = false;
      this.emitClose();
    }
  }

  private emitClose(): void {
    this.watcher?.onStreamClose();
    this.emit('close');
  }

  /** Engine: a client stream's response headers arrived (`flags` has END_STREAM for Trailers-Only). */
  receiveResponse(headers: IncomingHttpHeaders, flags: number): void {
    this.watcher?.onStreamResponse?.(headers, flags);
    this.emit('response', headers, flags);
  }

  /** Engine: trailers arrived (they always carry END_STREAM; `receiveEnd` follows). */
  receiveTrailers(trailers: IncomingHttpHeaders, flags: number): void {
    this.watcher?.onStreamTrailers?.(trailers);
    this.emit('trailers', trailers, flags);
  }

  // ---- writable side ----

  /**
   * Queues `chunk` as DATA. Returns false when the queued bytes reach STREAM_HIGH_WATER_BYTES; 'drain' follows once
   * they are sent. Writes after end() or close are dropped (the peer is gone or the body is complete).
   */
  write(chunk: Buffer): boolean {
    if (this.closed || this.endQueued) return true;
    if (chunk.length > 0) {
      // A stream's first chunk gets an array of one: a push onto an empty array reserves 17 slots (about 150 bytes),
      // and most streams of a unary call write one chunk.
      if (this.pending.length === 0) this.pending = [chunk];
      else this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      this.session.queueSend(this);
    }
    if (this.pendingBytes >= STREAM_HIGH_WATER_BYTES) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  /** Ends our side: END_STREAM after the queued data. */
  end(chunk?: Buffer): this {
    if (chunk !== undefined) this.write(chunk);
    if (this.closed || this.endQueued) return this;
    this.endQueued = true;
    this.session.queueSend(this);
    return this;
  }

  /** Ends our side with trailers: a HEADERS frame with END_STREAM after the queued data. */
  sendTrailers(trailers: SendableHeaders): void {
    if (this.closed || this.endQueued) return;
    this.endQueued = true;
    this.trailers = trailers;
    this.session.queueSend(this);
  }

  /** Server: sends the response headers now. `endStream` makes it a headers-only (e.g. Trailers-Only) response. */
  respond(headers: SendableHeaders, endStream = false): void {
    if (this.closed || this.headersSeen) return;
    this.headersSeen = true;
    if (endStream) this.endQueued = true;
    this.session.sendHeaders(this, headers, endStream);
  }

  /** Resets the stream (RST_STREAM `code`, default NO_ERROR) unless already closed. */
  close(code = 0): void {
    if (this.closed) {
      // Closed on the wire but holding a complete body for a reader that is gone (its call was cancelled): drop
      // the body and let 'close' out now, or it would wait forever for an 'end' nobody reads up to.
      if (this.closeAfterEnd) {
        this.closeAfterEnd = false;
        this.dropInbox();
        this.emitClose();
      }
      return;
    }
    this.session.resetStream(this, code);
  }

  /** Same as close(CANCEL): for callers that hold the stream as a node Readable. */
  destroy(): this {
    this.close(8);
    return this;
  }

  /** Engine: called after queued bytes were handed to the socket. */
  afterSend(): void {
    if (this.needDrain && this.pendingBytes < STREAM_HIGH_WATER_BYTES) {
      this.needDrain = false;
      const waiter = this.drainWaiter;
      if (waiter !== undefined) {
        this.drainWaiter = undefined;
        waiter.onStreamDrain();
      }
      this.emit('drain');
    }
  }

  /** Throws away data nobody will read, giving its bytes back to the connection window. */
  private dropInbox(): void {
    if (this.inbox === undefined) return;
    this.inbox = undefined;
    const bytes = this.inboxBytes;
    this.inboxBytes = 0;
    this.budget?.release(bytes);
    if (bytes > 0) this.session.creditConnection(bytes);
  }

  /** Engine: the stream is closed with `code`; keeps data the peer completed (it is still delivered). */
  finish(code: number): void {
    if (this.closed) return;
    this.closed = true;
    this.rstCode = code;
    this.pending.length = 0;
    this.pendingBytes = 0;
    this.trailers = undefined;
    if (!this.remoteEnded) {
      // Closed before the peer finished (a reset, or our NO_ERROR reset after an early response): what arrived is
      // incomplete and nobody will read it; readers see 'close' without 'end'.
      this.dropInbox();
    }
    if (code === 0 && this.remoteEnded && !this.endEmitted && this.inbox !== undefined) {
      // A complete body still held by a paused (or not yet attached) reader: 'close' follows its 'end', as in node.
      // (With nothing held, 'close' comes now; a reader that attaches later still gets its 'end'.)
      this.closeAfterEnd = true;
      // Server, and nobody ever read or paused (e.g. an early Trailers-Only reply): drop the body so 'close' still
      // comes, as node does for server streams. A client keeps it for a reader that attaches late (node too).
      if (this.session.role === 'server' && !this.flowing && !this.explicitlyPaused && this.reader === undefined && this.listenerCount('data') === 0) this.resume();
      return;
    }
    this.emitClose();
  }
}

Object.setPrototypeOf(H2Stream.prototype, EventEmitter.prototype);
const emitterOn = EventEmitter.prototype.on;

function deliverInbox(stream: H2Stream): void {
  stream.deliver();
}

/** Events a client stream emits, for typing listeners. */
export interface ClientStreamEvents {
  response: (headers: IncomingHttpHeaders, flags: number) => void;
  trailers: (headers: IncomingHttpHeaders) => void;
}
