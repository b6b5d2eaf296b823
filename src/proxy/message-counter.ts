// SPDX-License-Identifier: Apache-2.0
// Counts gRPC messages in DATA passing through, by walking the 5-byte length prefixes (1 byte compressed flag,
// 4 bytes big-endian length; PROTOCOL-HTTP2.md "Length-Prefixed-Message") across chunk boundaries. Nothing is
// buffered or copied: the counter only remembers where the current message ends. Used by the metrics layer for
// meshlet_grpc_msg_received_total / meshlet_grpc_msg_sent_total on streams.

import type { BodySource } from './body-source.js';
import type { RequestBody } from './request-body.js';

/** Where the counted messages go (a CallSeries). */
export interface MessageSink {
  msgReceived: number;
  msgSent: number;
}

/**
 * A parser over one direction of one call. State machine, per byte position:
 * 1. In a prefix (`prefixLeft` > 0): consume prefix bytes; bytes 2-5 accumulate the length. When the prefix is
 *    complete, a message of `length` bytes starts; a zero-length message is complete at once.
 * 2. In a body (`bodyLeft` > 0): skip `min(bodyLeft, available)` bytes; when it reaches 0 the message is complete.
 * A message is counted when its last byte has passed, so a stream cut mid-message does not count it.
 */
export class MessageCounter {
  /** Complete messages seen. */
  messages = 0;
  private prefixLeft = 5;
  private length = 0;
  private bodyLeft = 0;

  constructor(
    private readonly sink: MessageSink,
    private readonly received: boolean,
  ) {}

  /** Feeds the next chunk of the stream. */
  push(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    let done = 0;
    while (i < n) {
      if (this.bodyLeft > 0) {
        const take = Math.min(this.bodyLeft, n - i);
        this.bodyLeft -= take;
        i += take;
        if (this.bodyLeft === 0) done++;
        continue;
      }
      const byte = chunk[i++] as number;
      if (this.prefixLeft <= 4) this.length = this.length * 256 + byte;
      if (--this.prefixLeft === 0) {
        this.bodyLeft = this.length;
        this.prefixLeft = 5;
        this.length = 0;
        if (this.bodyLeft === 0) done++;
      }
    }
    if (done > 0) {
      this.messages += done;
      if (this.received) this.sink.msgReceived += done;
      else this.sink.msgSent += done;
    }
  }
}

/**
 * Counts the messages of `stream` into `sink`, without changing how the stream is consumed. meshlet's streams take
 * an observer that does not start the flow (`observeData`). On a node Readable, the counting 'data' listener is
 * attached at the moment the stream's consumer attaches its own (on 'newListener'), so the stream does not start
 * flowing early (a 'data' listener switches a stream to flowing mode, and chunks emitted before the consumer
 * listens would be lost to it); if it already has a 'data' listener, counting starts now.
 */
export function countMessages(stream: BodySource, sink: MessageSink, received: boolean): MessageCounter {
  const counter = new MessageCounter(sink, received);
  const onData = (chunk: Buffer): void => counter.push(chunk);
  if (stream.observeData !== undefined) {
    // meshlet's streams: an observer that does not touch the flow, so it can be attached now.
    stream.observeData(onData);
  } else if (stream.listenerCount('data') > 0) {
    stream.on('data', onData);
  } else {
    const onNewListener = (event: string | symbol): void => {
      if (event !== 'data') return;
      stream.removeListener('newListener', onNewListener);
      stream.on('data', onData);
    };
    stream.on('newListener', onNewListener);
  }
  return counter;
}

/** The downstream request stream under a RequestBody (its observer accessor). */
export function requestSource(body: RequestBody): BodySource {
  return body.stream;
}
