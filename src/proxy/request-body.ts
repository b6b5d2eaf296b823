// SPDX-License-Identifier: Apache-2.0
// The downstream request body, relayed to one upstream attempt at a time with back-pressure, and kept in a
// bounded replay buffer so an attempt that never reached the app (or a retry) can be sent again.

import type { DrainWaiter, StreamReader } from '../h2/stream.js';
import { readBody, type BodySource } from './body-source.js';

/** Where a request body goes: an upstream HTTP/2 stream, or a node Writable (the health layer reads it itself). */
export interface BodySink {
  write(chunk: Buffer): boolean;
  end(): unknown;
  once(event: 'drain', listener: () => void): unknown;
  removeListener(event: 'drain', listener: () => void): unknown;
  /** meshlet's HTTP/2 streams only: calls `waiter` at the next 'drain' (h2/stream.ts). */
  waitDrain?(waiter: DrainWaiter | undefined): void;
}

/** Default replay buffer: Linkerd does not retry bodies over 64 KiB, nor do we. */
const DEFAULT_MAX_REPLAY_BYTES = 64 * 1024;

/**
 * Relays the request stream of one call.
 *
 * State machine:
 * 1. Idle: nothing read from the source; HTTP/2 flow control holds the client back.
 * 2. `pipeTo(sink)`: replays buffered chunks into the sink, then relays live chunks; when the sink's buffer is full
 *    the source is paused until the sink drains. Each chunk is also kept while the buffered total stays within
 *    `maxReplayBytes`; past it the buffer is dropped and the body is no longer replayable.
 * 3. `detach(owner?)`: the current attempt is abandoned (only if `owner` is the current sink, when given); chunks keep being buffered (not relayed) until the next pipeTo.
 * 4. `commit()`: no more attempts will be made (response headers went downstream): the buffer is released.
 * The source's end is relayed as `sink.end()`.
 */
export class RequestBody implements StreamReader, DrainWaiter {
  private readonly source: BodySource;
  private readonly maxReplayBytes: number;
  private sink: BodySink | undefined;
  private buffer: Buffer[] | undefined = [];
  private bufferedBytes = 0;
  private started = false;
  private ended = false;
  private waitingDrain: BodySink | undefined;
  /** The 'drain' listener for a sink without `waitDrain` (a node Writable), made when first needed. */
  private drainListener: (() => void) | undefined;
  /** Total bytes read from downstream. */
  bytes = 0;

  constructor(source: BodySource, maxReplayBytes = DEFAULT_MAX_REPLAY_BYTES) {
    this.source = source;
    this.maxReplayBytes = maxReplayBytes;
  }

  /**
   * The downstream request stream, for observers that count what passes (message metrics). Observers must not
   * consume it (no pause/resume/read); attaching a 'data' listener before `pipeTo` would start it flowing early.
   */
  get stream(): BodySource {
    return this.source;
  }

  /** True while every byte read so far is still buffered, so a new attempt can be sent the whole body. */
  get replayable(): boolean {
    return this.buffer !== undefined;
  }

  /** True while relaying has started and the downstream has not half-closed yet (it is still sending). */
  get open(): boolean {
    return this.started && !this.ended;
  }

  /** True once the downstream half-closed its side. */
  get complete(): boolean {
    return this.ended;
  }

  /** Starts relaying to `sink` (replaying what was buffered). Throws if the body is no longer replayable. */
  pipeTo(sink: BodySink): void {
    if (this.sink !== undefined) throw new Error('RequestBody.pipeTo: already attached; detach() first');
    if (this.started) {
      const buffered = this.buffer;
      if (buffered === undefined) throw new Error('RequestBody.pipeTo: body exceeded the replay buffer');
      for (const chunk of buffered) sink.write(chunk);
    }
    this.sink = sink;
    if (this.ended) {
      sink.end();
      return;
    }
    if (!this.started) {
      this.started = true;
      readBody(this.source, this);
    } else if (this.source.isPaused()) {
      this.waitingDrain = undefined;
      this.source.resume();
    }
  }

  /**
   * Stops relaying to the current sink (its attempt failed or was cancelled). Buffering continues. With `owner`,
   * only detaches when `owner` is still the current sink: an old attempt whose stream closes late must not cut
   * off the body of the attempt that replaced it.
   */
  detach(owner?: BodySink): void {
    const sink = this.sink;
    if (sink === undefined || (owner !== undefined && owner !== sink)) return;
    this.sink = undefined;
    const waiting = this.waitingDrain;
    if (waiting !== undefined) {
      if (waiting.waitDrain !== undefined) waiting.waitDrain(undefined);
      else if (this.drainListener !== undefined) waiting.removeListener('drain', this.drainListener);
      this.waitingDrain = undefined;
    }
    // Without a sink the body is only buffered; stop reading once replay is impossible anyway.
    if (this.buffer === undefined && !this.ended) this.source.pause();
  }

  /** No further attempts: drop the replay buffer. */
  commit(): void {
    this.buffer = undefined;
    this.bufferedBytes = 0;
  }

  /** A chunk from downstream (StreamReader). */
  onStreamData(chunk: Buffer): void {
    this.bytes += chunk.length;
    const buffer = this.buffer;
    if (buffer !== undefined) {
      if (this.bufferedBytes + chunk.length <= this.maxReplayBytes) {
        buffer.push(chunk);
        this.bufferedBytes += chunk.length;
      } else {
        this.buffer = undefined;
        this.bufferedBytes = 0;
      }
    }
    const sink = this.sink;
    if (sink === undefined) {
      if (this.buffer === undefined) this.source.pause();
      return;
    }
    if (!sink.write(chunk) && this.waitingDrain === undefined) {
      this.source.pause();
      this.waitingDrain = sink;
      if (sink.waitDrain !== undefined) sink.waitDrain(this);
      else sink.once('drain', (this.drainListener ??= () => this.onStreamDrain()));
    }
  }

  /** The sink has room again (DrainWaiter). */
  onStreamDrain(): void {
    this.waitingDrain = undefined;
    if (this.sink !== undefined) this.source.resume();
  }

  /** The downstream half-closed (StreamReader). */
  onStreamEnd(): void {
    this.ended = true;
    this.sink?.end();
  }
}
