// SPDX-License-Identifier: Apache-2.0
// The terminal handler: opens one upstream stream for an attempt on `call.endpoint`, relays the request body, and
// resolves with the upstream's response headers once they arrive. Frames pass through untouched (protobuf is never
// decoded); trailers are handed over as they came. Every way the upstream stream can end becomes a status.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { ProxyError } from '../errors.js';
import type { CancelTarget, ProxyCall } from './call.js';
import { ProxyReply } from './call.js';
import type { H2Stream, StreamWatcher } from '../h2/stream.js';
import { ErrorCode } from '../h2/frame.js';
import { decodeGrpcMessage, Status, statusForHttpStatus, statusForRstCode } from '../grpc/status.js';
import { formatGrpcTimeout } from '../grpc/timeout.js';
import type { PooledSession, SessionPool } from '../h2/session-pool.js';
import type { Handler } from './layer.js';
import { errorTrailers } from './respond.js';

const END_STREAM = 0x1;

export interface ForwardOptions {
  readonly pool: SessionPool;
}

/** Builds the terminal handler. `call.endpoint` must be set by an earlier layer (balance, or the inbound app). */
export function forwardHandler(opts: ForwardOptions): Handler {
  const { pool } = opts;
  return (call: ProxyCall): Promise<ProxyReply> => {
    const address = call.endpoint;
    if (address === undefined) return Promise.reject(new ProxyError('ERR_INTERNAL', 'forward: no endpoint chosen'));
    const acquired = pool.acquire(address);
    if (acquired instanceof Promise) return acquired.then((s) => attempt(call, s));
    return attempt(call, acquired);
  };
}

function attempt(call: ProxyCall, pooled: PooledSession): Promise<ProxyReply> {
  if (call.cancelled !== undefined) {
    pooled.release();
    return Promise.reject(call.cancelled);
  }
  if (call.deadlineMs !== Infinity) {
    const remaining = call.deadlineMs - performance.now();
    if (remaining <= 0) {
      pooled.release();
      return Promise.reject(new ProxyError('ERR_DEADLINE_EXCEEDED', 'deadline exceeded before the call was sent', { neverReachedApp: true }));
    }
    // The app gets the time that is left, so its own deadline expires no later than ours (gRFC A6 spirit).
    call.editHeaders().set('grpc-timeout', formatGrpcTimeout(remaining));
  }
  const stream = pooled.request(call.upstreamHeaders());
  call.attempts++;
  return new Promise<ProxyReply>((resolve, reject) => new UpstreamAttempt(call, pooled, stream, resolve, reject));
}

/** Binds one upstream stream to the call; lives until the stream closes. */
class UpstreamAttempt implements CancelTarget, StreamWatcher {
  reply: ProxyReply | undefined;
  private cancelledBy: ProxyError | undefined;

  constructor(
    private readonly call: ProxyCall,
    private readonly pooled: PooledSession,
    private readonly stream: H2Stream,
    private readonly resolve: (r: ProxyReply) => void,
    private readonly reject: (e: ProxyError) => void,
  ) {
    stream.watch(this);
    call.addCancelTarget(this);
    call.body.pipeTo(stream);
  }

  /** StreamWatcher: the response headers. */
  onStreamResponse(headers: IncomingHttpHeaders, flags: number): void {
    if (this.cancelledBy !== undefined) return;
    if ((flags & END_STREAM) !== 0) {
      // Trailers-Only: the status is in these headers and there is nothing else to relay.
      const reply = new ProxyReply(headers as OutgoingHttpHeaders, null);
      this.reply = reply;
      finishFrom(reply, headers);
      this.resolve(reply);
      return;
    }
    const reply = new ProxyReply(headers as OutgoingHttpHeaders, this.stream);
    this.reply = reply;
    this.resolve(reply);
  }

  /** The call was cancelled (client reset, deadline): reset the upstream stream and end the call with the reason. */
  handleCancel(reason: ProxyError): void {
    this.cancelledBy = reason;
    this.call.body.detach(this.stream);
    // Also when already closed on the wire: a body still held for the relay is dropped, so 'close' comes.
    this.stream.close(ErrorCode.CANCEL);
    if (this.reply === undefined) this.reject(reason);
    else this.failReply(this.reply, reason);
  }

  /** StreamWatcher: the trailers, kept for the end of the call (the stream's close). */
  onStreamTrailers(trailers: IncomingHttpHeaders): void {
    if (this.reply !== undefined) this.reply.trailers = trailers as OutgoingHttpHeaders;
  }

  /** StreamWatcher: the upstream stream closed; every way it can end becomes the call's end. */
  onStreamClose(): void {
    this.call.removeCancelTarget(this);
    this.call.body.detach(this.stream);
    const reply = this.reply;
    if (reply === undefined) {
      if (this.cancelledBy === undefined) this.reject(this.closeError());
      return;
    }
    if (reply.end !== undefined) return;
    if (reply.trailers !== undefined) {
      finishFrom(reply, reply.trailers as IncomingHttpHeaders);
      return;
    }
    if (this.cancelledBy === undefined && this.stream.remoteEnded) {
      // The upstream ended its body with END_STREAM and no trailers. For plain HTTP that is a complete response,
      // relayed as such (respond.ts ends the downstream stream the same way); a gRPC response has lost its status:
      // INTERNAL, as grpc-go reports it.
      if (!isGrpcResponse(reply.headers)) {
        finishFrom(reply, NO_TRAILERS);
        return;
      }
      const err = new ProxyError('ERR_UPSTREAM_NO_TRAILERS', 'server closed the stream without sending trailers', {
        cause: new Error(`upstream ${this.pooled.address} ended a gRPC response without trailers`),
      });
      this.failReply(reply, err);
      return;
    }
    this.failReply(reply, this.cancelledBy ?? this.closeError());
  }

  private failReply(reply: ProxyReply, err: ProxyError): void {
    if (reply.end !== undefined) return;
    reply.trailers = errorTrailers(err, this.call.direction);
    reply.finish({ status: err.grpcStatus, message: err.message, error: err });
  }

  /** Why the upstream stream closed without a complete response. */
  private closeError(): ProxyError {
    const rst = this.stream.rstCode ?? ErrorCode.NO_ERROR;
    const address = this.pooled.address;
    if (rst === ErrorCode.REFUSED_STREAM) {
      return new ProxyError('ERR_UPSTREAM_REFUSED_STREAM', `upstream ${address} refused the stream`, { neverReachedApp: true });
    }
    if (this.pooled.lost || this.pooled.session.destroyed) {
      return new ProxyError('ERR_UPSTREAM_CONNECTION_LOST', `connection to upstream ${address} lost`);
    }
    if (this.pooled.draining && this.reply === undefined && rst !== ErrorCode.NO_ERROR) {
      return new ProxyError('ERR_UPSTREAM_GOAWAY', `upstream ${address} went away before answering`);
    }
    return new ProxyError('ERR_UPSTREAM_RESET', `upstream ${address} reset the stream (HTTP/2 error ${rst})`, {
      grpcStatus: statusForRstCode(rst),
    });
  }
}

const NO_TRAILERS: IncomingHttpHeaders = {};

/** True when response headers say gRPC (`content-type: application/grpc`, `+proto`, `;...`). */
function isGrpcResponse(headers: OutgoingHttpHeaders): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && type.startsWith('application/grpc');
}

/** Records the end of a call from the upstream's trailers (or Trailers-Only headers). */
function finishFrom(reply: ProxyReply, trailers: IncomingHttpHeaders): void {
  const raw = trailers['grpc-status'];
  let status: number;
  if (raw === undefined) {
    // No grpc-status: the client derives one from the HTTP status (or reports a protocol error); so do metrics.
    const http = Number(reply.headers[':status'] ?? 200);
    status = http === 200 ? Status.UNKNOWN : statusForHttpStatus(http);
  } else {
    status = Number(raw);
    if (!Number.isInteger(status) || status < 0 || status > 16) status = Status.UNKNOWN;
  }
  const message = trailers['grpc-message'];
  reply.finish({ status, message: typeof message === 'string' ? decodeGrpcMessage(message) : undefined, error: undefined });
}
