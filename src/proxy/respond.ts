// SPDX-License-Identifier: Apache-2.0
// Writes a ProxyReply downstream: Trailers-Only as one HEADERS frame with END_STREAM; otherwise response headers,
// the body relayed with back-pressure, then the trailers. Also builds the trailers for meshlet-made errors.

import type { OutgoingHttpHeaders } from 'node:http2';
import type { ProxyError } from '../errors.js';
import type { BodySource } from './body-source.js';
import { type ProxyCall, ProxyReply } from './call.js';
import type { H2Stream } from '../h2/stream.js';
import { encodeGrpcMessage } from '../grpc/status.js';

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
class ResponseRelay {
  private trailersSent = false;

  constructor(
    private readonly call: ProxyCall,
    private readonly down: H2Stream,
    readonly body: BodySource,
    private readonly reply: ProxyReply,
  ) {
    body.on('data', this.onData);
    body.on('end', () => reply.onEnd(() => this.sendTrailers()));
    // An error end (upstream lost, deadline, cancel) cuts the body short; a normal end waits for the body's 'end'.
    reply.onEnd((end) => {
      if (end.error !== undefined) {
        body.removeListener('data', this.onData);
        this.sendTrailers();
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

  private sendTrailers(): void {
    if (this.trailersSent) return;
    this.trailersSent = true;
    if (this.down.closed) return;
    this.down.sendTrailers(this.reply.trailers ?? { 'grpc-status': '2', 'grpc-message': 'upstream sent no trailers' });
  }
}
