// SPDX-License-Identifier: Apache-2.0
// Writes a ProxyReply downstream: Trailers-Only as one HEADERS frame with END_STREAM; otherwise response headers,
// the body relayed with back-pressure, then the trailers. Also builds the trailers for meshlet-made errors.

import type { OutgoingHttpHeaders } from 'node:http2';
import type { ProxyError } from '../errors.js';
import { readBody, stopReading, type BodySource } from './body-source.js';
import { type ProxyCall, ProxyReply } from './call.js';
import type { DrainWaiter, H2Stream, StreamReader } from '../h2/stream.js';
import type { CallEnd, Direction } from '../grpc/call.js';
import { encodeGrpcMessage, STATUS_NAMES } from '../grpc/status.js';

/**
 * The grpc-message meshlet sends for its own error, by side (docs/errors.md, "What goes on the wire"):
 * - outbound: the caller is the local app, inside the pod: the full message, endpoint address and errno included,
 *   so the app's own logs say what failed;
 * - inbound: the caller is another service: `meshlet: <status> (<code>)` only, so internal addresses, ports and
 *   errnos never leave the pod. The detail stays in the call's end (access log `grpc_message`, spans).
 */
export function wireMessage(err: ProxyError, direction: Direction): string {
  if (direction === 'outbound') return err.message;
  const status = (STATUS_NAMES[err.grpcStatus] ?? String(err.grpcStatus)).toLowerCase().replaceAll('_', ' ');
  return `meshlet: ${status} (${err.code})`;
}

/**
 * Trailers for a meshlet-made error: grpc-status, percent-encoded grpc-message (`wireMessage` for `direction`),
 * x-meshlet-error naming the code, and the error's extra trailers (rate limits: grpc-retry-pushback-ms).
 */
export function errorTrailers(err: ProxyError, direction: Direction): OutgoingHttpHeaders {
  return {
    'grpc-status': String(err.grpcStatus),
    'grpc-message': encodeGrpcMessage(wireMessage(err, direction)),
    'x-meshlet-error': err.code,
    ...err.trailers,
  };
}

/**
 * A Trailers-Only reply (HTTP 200, application/grpc) for a meshlet-made error on a `direction` listener; already
 * ended. The call's end keeps the full message for logs; the wire gets `wireMessage`.
 */
export function errorReply(err: ProxyError, direction: Direction): ProxyReply {
  const reply = new ProxyReply({ ':status': 200, 'content-type': 'application/grpc', ...errorTrailers(err, direction) }, null);
  reply.finish({ status: err.grpcStatus, message: err.message, error: err });
  return reply;
}

/**
 * Sends `reply` on the downstream stream. After this the request body can no longer be retried (headers went out).
 * Never throws: a downstream that is already gone is left alone (the call was cancelled and forward reset upstream).
 */
export function writeReply(call: ProxyCall, down: H2Stream, reply: ProxyReply): void {
  if (down.closed) {
    reply.body?.destroy();
    return;
  }
  const body = reply.body;
  if (body === null) {
    down.respond(reply.headers, true);
    return;
  }
  call.body.commit();
  down.respond(reply.headers);
  new ResponseRelay(call, down, body, reply);
}

/** Relays the response body, then the trailers once the body is done and the call has ended. */
class ResponseRelay implements StreamReader, DrainWaiter {
  private trailersSent = false;
  private bodyEnded = false;

  constructor(
    private readonly call: ProxyCall,
    private readonly down: H2Stream,
    readonly body: BodySource,
    private readonly reply: ProxyReply,
  ) {
    const ended = reply.end;
    if (ended !== undefined && ended.error !== undefined) {
      // Cut short before it started (a deadline between the headers and now): the body is consumed unread.
      body.resume();
      this.sendTrailers();
      return;
    }
    readBody(body, this);
    reply.onEnd((end) => this.replyEnded(end));
  }

  /** A chunk of the response body (StreamReader). */
  onStreamData(chunk: Buffer): void {
    this.call.responseBytes += chunk.length;
    if (!this.down.write(chunk)) {
      this.body.pause();
      this.down.waitDrain(this);
    }
  }

  /** The downstream has room again (DrainWaiter). */
  onStreamDrain(): void {
    this.body.resume();
  }

  /** The body ended (StreamReader): the trailers follow once the call has ended too. */
  onStreamEnd(): void {
    this.bodyEnded = true;
    if (this.reply.end !== undefined) this.sendTrailers();
  }

  /** An error end (upstream lost, deadline, cancel) cuts the body short; a normal end waits for the body's end. */
  private replyEnded(end: CallEnd): void {
    if (end.error !== undefined) {
      stopReading(this.body);
      this.sendTrailers();
    } else if (this.bodyEnded) {
      this.sendTrailers();
    }
  }

  private sendTrailers(): void {
    if (this.trailersSent) return;
    this.trailersSent = true;
    if (this.down.closed) return;
    const trailers = this.reply.trailers;
    if (trailers === undefined && this.reply.end !== undefined && this.reply.end.error === undefined) {
      // A complete response without trailers (plain HTTP, forward.ts): it ends downstream as it ended upstream.
      this.down.end();
      return;
    }
    this.down.sendTrailers(trailers ?? { 'grpc-status': '2', 'grpc-message': 'upstream sent no trailers' });
  }
}
