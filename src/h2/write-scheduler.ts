// SPDX-License-Identifier: Apache-2.0
// The write side of one connection: frames queued during an event-loop turn, DATA scheduled across streams within
// the flow-control windows (RFC 9113 §6.9), and one socket write per turn. Also the HPACK encoder (RFC 7541),
// because header blocks must be encoded in the order their frames go on the wire (RFC 9113 §4.3).

import type { Socket } from 'node:net';
import type { ConnectionFlow } from './flow-control.js';
import { encodeDataHeader, encodeHeaders, ErrorCode, type Settings } from './frame.js';
import { unreadFlood } from './guards.js';
import { headerBlockOf, type SendableHeaders } from './headers.js';
import { HpackEncoder } from './hpack/encoder.js';
import type { H2Stream } from './stream.js';

/** Bytes of DATA one stream may put on the socket per flush, so one large message cannot starve the others. */
const STREAM_BURST_BYTES = 256 * 1024;
/** No more DATA is queued while the socket holds this much unsent (TCP back-pressure). */
const SOCKET_HIGH_WATER_BYTES = 1024 * 1024;
/** Writes up to this size are joined into one buffer (one syscall, no per-buffer write requests). */
const CONCAT_LIMIT_BYTES = 16 * 1024;
/**
 * In bigger writes, buffers from this size up (DATA payloads) go to the socket as they are, in one writev, rather
 * than copied: -14 % CPU per 64 KiB call, +11 % req/s (same-run A/B, docs/performance.md).
 */
const OWN_IOVEC_BYTES = 4096;

// One turn of writing:
// 1. Frames are queued, not written. Control frames (SETTINGS, WINDOW_UPDATE, RST_STREAM, PING, GOAWAY) and HEADERS
//    go straight into `out`, HEADERS encoded at once (HPACK state follows wire order). A stream with DATA, an end
//    or trailers to send joins the send queue instead (queueSend), once.
// 2. The first thing queued in a turn schedules one flush (setImmediate): every frame that the turn's socket reads,
//    timers and callers produced shares it.
// 3. The flush lets each queued stream, in order, put DATA into `out` within its own window, the connection window
//    (§6.9.1), the peer's SETTINGS_MAX_FRAME_SIZE (§4.2) and a burst of STREAM_BURST_BYTES; then its end: trailers
//    (HEADERS with END_STREAM) or an empty DATA with END_STREAM (§8.1). A stream with more to send goes to the back
//    of the queue for the next flush; one stopped by the connection window or by the socket (SOCKET_HIGH_WATER_BYTES
//    unsent) waits in `blocked` until a WINDOW_UPDATE on stream 0 or 'drain' (unblock); one stopped by its own
//    window waits for its own WINDOW_UPDATE (the stream table queues it again).
// 4. Then `out` goes to the socket in one write: joined into one buffer when small, otherwise corked into one
//    writev with the large payloads as buffers of their own. The unread-reply guard then looks at the socket.
// 5. Streams that sent DATA are told (afterSend), so writers waiting for 'drain' resume.

/** What the write scheduler needs from its connection (H2Connection implements it). */
export interface WriteHost {
  /** The connection is destroyed or closed: nothing more is flushed. */
  readonly destroyed: boolean;
  /** END_STREAM of `stream` is queued: the stream may close now. */
  afterLocalEnd(stream: H2Stream): void;
  /** Ends the connection with GOAWAY `code` (the unread-reply guard). */
  destroy(err?: Error, code?: number): void;
}

/** The write side of one connection. */
export class WriteScheduler {
  private readonly host: WriteHost;
  private readonly socket: Socket;
  /** The peer's settings (the connection's object, updated in place). */
  private readonly remote: Settings;
  private readonly flow: ConnectionFlow;
  private readonly maxUnsentBytes: number;
  private readonly encoder = new HpackEncoder();
  /** Frames (and DATA payloads) queued for the next write. */
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  /** Inside flush(): frames queued now are written by that flush, no new one is scheduled. */
  private flushing = false;
  private sendQueue: H2Stream[] = [];
  /** Streams with data waiting for the connection window or the socket to drain. */
  private blocked: H2Stream[] = [];

  constructor(host: WriteHost, socket: Socket, remote: Settings, flow: ConnectionFlow, maxUnsentBytes: number) {
    this.host = host;
    this.socket = socket;
    this.remote = remote;
    this.flow = flow;
    this.maxUnsentBytes = maxUnsentBytes;
  }

  /** Step 1: queues a frame for the next flush. */
  queue(frame: Buffer): void {
    this.out.push(frame);
    this.outBytes += frame.length;
    this.scheduleFlush();
  }

  /** Step 1: encodes a header block now and queues its HEADERS (+ CONTINUATION) frames. */
  queueHeaders(streamId: number, headers: SendableHeaders, endStream: boolean): void {
    const block = headerBlockOf(headers);
    this.queue(encodeHeaders(streamId, this.encoder.encode(block.list, block.neverIndexed), endStream, this.remote.maxFrameSize));
  }

  /** Step 1: queues `stream` for the next flush (it has data, an end, or trailers to send). */
  queueSend(stream: H2Stream): void {
    if (!stream.queued) {
      stream.queued = true;
      this.sendQueue.push(stream);
    }
    this.scheduleFlush();
  }

  /** The peer's SETTINGS_HEADER_TABLE_SIZE changed: the encoder's table follows (RFC 7541 §4.2). */
  setPeerMaxTableSize(size: number): void {
    this.encoder.setPeerMaxTableSize(size);
  }

  /** Step 3: the connection window opened or the socket drained: blocked streams try again. */
  unblock(): void {
    if (this.blocked.length === 0) return;
    const blocked = this.blocked;
    this.blocked = [];
    for (const s of blocked) if (!s.closed) this.queueSend(s);
  }

  /** Writes `frame` and what is queued now, without waiting for the flush (a GOAWAY before the socket goes). */
  writeNow(frame: Buffer): void {
    this.out.push(frame);
    this.outBytes += frame.length;
    this.writeOut();
  }

  /** Step 2. */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing || this.host.destroyed) return;
    this.flushScheduled = true;
    setImmediate(flushScheduler, this);
  }

  /** Steps 3-5: writes what is queued: DATA as far as windows and the socket allow, then one write for everything. */
  flush(): void {
    this.flushScheduled = false;
    if (this.host.destroyed) return;
    let sent: H2Stream[] | undefined;
    this.flushing = true;
    if (this.sendQueue.length > 0) sent = this.sendData();
    this.flushing = false;
    this.writeOut();
    if (this.sendQueue.length > 0) this.scheduleFlush();
    if (sent !== undefined) for (const s of sent) s.afterSend();
  }

  /** Step 3 for every stream queued; returns them (for step 5). */
  private sendData(): H2Stream[] {
    const queue = this.sendQueue;
    this.sendQueue = [];
    for (const stream of queue) {
      stream.queued = false;
      if (stream.closed || stream.id === 0) continue; // a waiting stream is queued again when it opens
      if (this.socket.writableLength + this.outBytes >= SOCKET_HIGH_WATER_BYTES) {
        this.blocked.push(stream);
        continue;
      }
      const left = this.sendStream(stream);
      if (left === 'blocked-connection') {
        this.flow.sendStalls++;
        this.blocked.push(stream);
      } else if (left === 'more') this.queueSend(stream);
      // 'blocked-stream': requeued by the stream's WINDOW_UPDATE; 'done': nothing left.
    }
    return queue;
  }

  /** Step 3 for one stream: puts its DATA (and the end or trailers) into `out`, within the windows and one burst. */
  private sendStream(s: H2Stream): 'done' | 'more' | 'blocked-stream' | 'blocked-connection' {
    let budget = STREAM_BURST_BYTES;
    const maxFrame = this.remote.maxFrameSize;
    const flow = this.flow;
    while (s.pendingBytes > 0) {
      if (s.sendWindow <= 0) return 'blocked-stream';
      if (flow.sendWindow <= 0) return 'blocked-connection';
      if (budget <= 0) return 'more';
      const head = s.pending[0] as Buffer;
      const available = head.length - s.pendingOffset;
      const n = Math.min(available, s.sendWindow, flow.sendWindow, maxFrame, budget);
      const part = s.pendingOffset === 0 && n === head.length ? head : head.subarray(s.pendingOffset, s.pendingOffset + n);
      if (n === available) {
        s.pending.shift();
        s.pendingOffset = 0;
      } else {
        s.pendingOffset += n;
      }
      s.pendingBytes -= n;
      s.sendWindow -= n;
      flow.sendWindow -= n;
      budget -= n;
      const last = s.pendingBytes === 0 && s.endQueued && s.trailers === undefined;
      this.out.push(encodeDataHeader(s.id, n, last), part);
      this.outBytes += 9 + n;
      if (last) s.localEnded = true;
    }
    if (s.endQueued && !s.localEnded) {
      const trailers = s.trailers;
      if (trailers !== undefined) {
        s.trailers = undefined;
        this.queueHeaders(s.id, trailers, true);
      } else {
        this.queue(encodeDataHeader(s.id, 0, true));
      }
      s.localEnded = true;
    }
    if (s.localEnded) this.host.afterLocalEnd(s);
    return 'done';
  }

  /** Step 4: one write for everything in `out`, then the unread-reply guard. */
  writeOut(): void {
    const out = this.out;
    if (out.length === 0) return;
    const bytes = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    const socket = this.socket;
    if (socket.destroyed) return;
    if (out.length === 1) {
      socket.write(out[0] as Buffer);
    } else if (bytes <= CONCAT_LIMIT_BYTES) {
      socket.write(Buffer.concat(out, bytes));
    } else {
      // One writev: large payloads as their own iovecs (no copy), the small frames between them joined.
      socket.cork();
      let run: Buffer[] = [];
      let runBytes = 0;
      for (const b of out) {
        if (b.length < OWN_IOVEC_BYTES) {
          run.push(b);
          runBytes += b.length;
          continue;
        }
        if (run.length > 0) {
          socket.write(run.length === 1 ? (run[0] as Buffer) : Buffer.concat(run, runBytes));
          run = [];
          runBytes = 0;
        }
        socket.write(b);
      }
      if (run.length > 0) socket.write(run.length === 1 ? (run[0] as Buffer) : Buffer.concat(run, runBytes));
      socket.uncork();
    }
    if (!this.host.destroyed) {
      const flood = unreadFlood(socket, this.maxUnsentBytes);
      if (flood !== undefined) this.host.destroy(flood, ErrorCode.ENHANCE_YOUR_CALM);
    }
  }
}

function flushScheduler(writer: WriteScheduler): void {
  writer.flush();
}
