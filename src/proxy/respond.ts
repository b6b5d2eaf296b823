// SPDX-License-Identifier: Apache-2.0
// Writes a ProxyReply downstream: Trailers-Only as one HEADERS frame with END_STREAM; otherwise response headers,
// the body relayed with back-pressure, then the trailers. Also builds the trailers for meshlet-made errors.

import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Readable } from 'node:stream';
import type { ProxyError } from '../errors.js';
import { type ProxyCall, ProxyReply } from './call.js';
import { encodeGrpcMessage } from './grpc/status.js';

/** Trailers for a meshlet-made error: grpc-status, percent-encoded grpc-message, and x-meshlet-error naming the code. */
export function errorTrailers(err: ProxyError): OutgoingHttpHeaders {
  return {
    'grpc-status': String(err.grpcStatus),
    'grpc-message': encodeGrpcMessage(err.message),
    'x-meshlet-error': err.code,
  };
}

/** A Trailers-Only reply (HTTP 200, application/grpc) for a meshlet-made error; already ended. */
export function errorReply(err: ProxyError): ProxyReply {
  const reply = new ProxyReply({ ':status': 200, 'content-type': 'application/grpc', ...errorTrailers(err) }, null);
  reply.finish({ status: err.grpcStatus, message: err.message, error: err });
  return reply;
}

/**
 * Sends `reply` on the downstream stream. After this the request body can no longer be retried (headers went out).
 * Never throws: a downstream that is already gone is left alone (the call was cancelled and forward reset upstream).
 */
export function writeReply(call: ProxyCall, down: ServerHttp2Stream, reply: ProxyReply): void {
  if (down.destroyed || down.closed) {
    reply.body?.destroy();
    return;
  }
  const body = reply.body;
  if (body === null) {
    down.respond(reply.headers, { endStream: true });
    return;
  }
  call.body.commit();
  down.respond(reply.headers, { waitForTrailers: true });
  new ResponseRelay(call, down, body, reply);
}

/** Relays the response body and then the trailers. */
class ResponseRelay {
  private ended = false;

  constructor(
    private readonly call: ProxyCall,
    private readonly down: ServerHttp2Stream,
    readonly body: Readable,
    private readonly reply: ProxyReply,
  ) {
    // Closures rather than properties on node's stream objects (see forward.ts).
    down.on('wantTrailers', () => this.wantTrailers());
    body.on('data', this.onData);
    body.on('end', () => this.endDownstream());
    // An error end (upstream lost, deadline, cancel) cuts the body short; a normal end waits for the body's 'end'.
    reply.onEnd((end) => {
      if (end.error !== undefined) {
        body.removeListener('data', this.onData);
        this.endDownstream();
      }
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    this.call.responseBytes += chunk.length;
    if (!this.down.write(chunk)) {
      this.body.pause();
      this.down.once('drain', () => this.body.resume());
    }
  };

  endDownstream(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.down.destroyed && !this.down.writableEnded) this.down.end();
  }

  wantTrailers(): void {
    this.reply.onEnd(() => {
      if (this.down.destroyed || this.down.closed) return;
      const trailers = this.reply.trailers ?? { 'grpc-status': '2', 'grpc-message': 'upstream sent no trailers' };
      this.down.sendTrailers(trailers);
    });
  }
}
