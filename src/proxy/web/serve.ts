// SPDX-License-Identifier: Apache-2.0
// The gRPC-Web adapter (docs/grpc-web.md): answers CORS preflights, reads a gRPC-Web request (bounded, base64
// decoded for -text), runs it as a native gRPC call through the listener's own chain (the same layers as every
// call: rescue, access log, tracing, metrics, deadline, authz), and writes the reply back as gRPC-Web: the
// response frames as they come, then the trailers as one frame with flag 0x80.
//
// Only unary and server-streaming calls exist in gRPC-Web; the inbound side does not know method types (it never
// reads protobuf schemas), so a request body with more than one message is refused as client streaming.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { Readable } from 'node:stream';
import { ProxyError, toProxyError } from '../../errors.js';
import type { Direction, PeerInfo } from '../../grpc/call.js';
import { contextKey } from '../../grpc/call.js';
import { Status } from '../../grpc/status.js';
import { type CorsPolicy, preflightHeaders, responseCorsHeaders } from '../../grpcweb/cors.js';
import {
  Base64StreamDecoder,
  encodeTrailerFrame,
  GrpcWebFormatError,
  type GrpcWebContentType,
  parseFrames,
  parseGrpcWebContentType,
  responseContentType,
  TRAILER_FLAG,
} from '../../grpcweb/codec.js';
import { ProxyCall, type ProxyReply } from '../call.js';
import type { Handler } from '../layer.js';
import { RequestBody } from '../request-body.js';
import { errorTrailers } from '../respond.js';
import type { WebExchange, WebProtocol } from './exchange.js';

/** Set on every call that arrived as gRPC-Web: the HTTP protocol it came on (access log `grpc_web`). */
export const grpcWebKey = contextKey<WebProtocol>('grpc-web');

/** `inbound.grpcWeb` with defaults applied. */
export interface GrpcWebOptions {
  /** Largest request body buffered (decoded), bytes; the schema's default is 4 MiB. */
  readonly maxRequestBytes: number;
  readonly cors: CorsPolicy;
}

/** Why an HTTP request on a gRPC-Web listener was not a call (meshlet_grpc_web_rejected_total `reason`). */
export type WebRejection = 'not_grpc_web' | 'h2c_upgrade' | 'method' | 'preflight_origin';

export interface WebServeDeps {
  readonly direction: Direction;
  /** The listener's chain. */
  readonly handler: Handler;
  readonly options: GrpcWebOptions;
  /** Every gRPC-Web call once it ended, by protocol, encoding and gRPC status (metrics). */
  readonly onCall?: (protocol: WebProtocol, encoding: 'binary' | 'text', status: number) => void;
  readonly onRejected?: (reason: WebRejection) => void;
  /** In-flight accounting of the listener (drain waits for calls): `start` per call, the returned function at its end. */
  readonly track?: () => () => void;
}

/** Request headers that describe the browser's HTTP exchange, not the call: never forwarded to the app. */
const DROP_HEADERS = new Set([
  'host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'content-length',
  'content-type', 'accept', 'accept-encoding', 'accept-language', 'origin', 'referer', 'x-grpc-web', 'x-user-agent',
  'cache-control', 'pragma', 'priority', 'dnt',
]);

/** Response headers that describe the upstream HTTP/2 response, not metadata for the page. */
const DROP_RESPONSE_HEADERS = new Set(['content-type', 'content-length', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer']);

/** Serves one exchange on a gRPC-Web listener. Never throws; every outcome is an HTTP answer. */
export function serveGrpcWeb(ex: WebExchange, peer: PeerInfo, deps: WebServeDeps): void {
  const origin = ex.headers.origin as string | undefined;
  const { cors } = deps.options;
  if (ex.method === 'OPTIONS') {
    const pre = preflightHeaders(cors, origin);
    if (pre === undefined) deps.onRejected?.('preflight_origin');
    ex.body.resume();
    ex.respond(204, pre ?? {}, true);
    return;
  }
  const corsHeaders = responseCorsHeaders(cors, origin);
  const contentType = ex.headers['content-type'];
  const ct = parseGrpcWebContentType(contentType);
  if (ct === undefined) {
    const upgrade = String(ex.headers.upgrade ?? '').toLowerCase();
    if (ex.protocol === 'http/1.1' && upgrade.includes('h2c')) {
      return refuse(ex, deps, 'h2c_upgrade', 426, corsHeaders, 'meshlet: HTTP/2 cleartext upgrade is not supported; use HTTP/2 with prior knowledge (gRPC) or gRPC-Web\n');
    }
    return refuse(ex, deps, 'not_grpc_web', 415, corsHeaders,
      `meshlet: this port serves gRPC over HTTP/2 and gRPC-Web (application/grpc-web, application/grpc-web-text, +proto); got content-type ${contentType === undefined ? 'none' : JSON.stringify(contentType)}\n`);
  }
  if (ex.method !== 'POST') {
    return refuse(ex, deps, 'method', 405, { ...corsHeaders, allow: 'POST, OPTIONS' }, `meshlet: gRPC-Web calls are POST, got ${ex.method}\n`);
  }
  new WebCall(ex, ct, peer, corsHeaders, deps).start();
}

function refuse(ex: WebExchange, deps: WebServeDeps, reason: WebRejection, status: number, headers: OutgoingHttpHeaders, text: string): void {
  deps.onRejected?.(reason);
  ex.body.resume();
  ex.respond(status, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  ex.write(Buffer.from(text));
  ex.end();
}

/** One gRPC-Web call: 1. read the body (bounded) 2. run the chain 3. relay the reply 4. the trailers frame. */
class WebCall {
  private readonly startMs = performance.now();
  private readonly decoder: Base64StreamDecoder | undefined;
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  /** Set once the request was refused (the rest of the body is read and dropped) or handed to the chain. */
  private settled = false;
  private call: ProxyCall | undefined;
  private reply: ProxyReply | undefined;
  private closed = false;
  private bodyEnded = false;
  /** HTTP/2: a refusal waiting for the end of the request body (see fail()). */
  private pendingError: ProxyError | undefined;
  private untrack: (() => void) | undefined;

  constructor(
    private readonly ex: WebExchange,
    private readonly ct: GrpcWebContentType,
    private readonly peer: PeerInfo,
    private readonly cors: OutgoingHttpHeaders,
    private readonly deps: WebServeDeps,
  ) {
    this.decoder = ct.text ? new Base64StreamDecoder() : undefined;
  }

  start(): void {
    this.untrack = this.deps.track?.();
    this.ex.onClose((finished) => {
      this.closed = true;
      if (!finished) {
        // The browser went away (tab closed, AbortController): cancel the upstream call.
        this.call?.cancel(new ProxyError('ERR_DOWNSTREAM_CANCELLED', 'the gRPC-Web client cancelled the call'));
      }
      if (!this.settled) this.settled = true;
      this.release();
    });
    this.ex.body.on('data', this.onData);
    this.ex.body.on('end', this.onEnd);
  }

  private release(): void {
    const u = this.untrack;
    this.untrack = undefined;
    u?.();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.settled) return; // refused: read and drop the rest, so an HTTP/1.1 connection stays usable
    try {
      const data = this.decoder === undefined ? chunk : this.decoder.push(chunk);
      this.bytes += data.length;
      if (this.bytes > this.deps.options.maxRequestBytes) {
        this.chunks.length = 0;
        return this.fail(new ProxyError('ERR_GRPCWEB_TOO_LARGE', `gRPC-Web request body over maxRequestBytes (${this.deps.options.maxRequestBytes} bytes)`));
      }
      if (data.length > 0) this.chunks.push(data);
    } catch (err) {
      this.chunks.length = 0;
      this.fail(badBody(err));
    }
  };

  private readonly onEnd = (): void => {
    this.bodyEnded = true;
    if (this.pendingError !== undefined) return this.fail(this.pendingError);
    if (this.settled) return;
    let body: Buffer;
    try {
      this.decoder?.end();
      body = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
      this.chunks.length = 0;
      const frames = parseFrames(body);
      if (frames.some((f) => (f.flags & TRAILER_FLAG) !== 0)) throw new GrpcWebFormatError('a trailers frame (flag 0x80) in a request body');
      if (frames.length > 1) {
        return this.fail(new ProxyError('ERR_GRPCWEB_CLIENT_STREAMING', `gRPC-Web request with ${frames.length} messages: client-streaming and bidi calls are not supported over gRPC-Web`));
      }
    } catch (err) {
      return this.fail(badBody(err));
    }
    this.settled = true;
    this.run(body);
  };

  /** Answers a meshlet-made error before the chain ran: status in the trailers frame, like any other call. */
  private fail(err: ProxyError): void {
    this.settled = true;
    if (this.closed) return;
    if (this.ex.protocol === 'h2' && !this.bodyEnded) {
      // An HTTP/2 response that ends before the request does is followed by RST_STREAM(NO_ERROR) (RFC 9113 §8.1),
      // and some clients (node's http2) then drop the response they already got. So the rest of the body is read
      // and dropped (bounded memory) and the answer goes out once it ended.
      this.pendingError = err;
      return;
    }
    this.pendingError = undefined;
    this.respondHeaders({});
    this.writeFrame(encodeTrailerFrame(errorTrailers(err, this.deps.direction)));
    this.ex.end();
    this.deps.onCall?.(this.ex.protocol, this.encoding, err.grpcStatus);
    this.release();
  }

  private get encoding(): 'binary' | 'text' {
    return this.ct.text ? 'text' : 'binary';
  }

  private run(body: Buffer): void {
    if (this.closed) return;
    const headers = callHeaders(this.ex);
    const call = new ProxyCall(this.deps.direction, headers, new RequestBody(Readable.from(body.length > 0 ? [body] : [])), this.peer, this.startMs);
    call.set(grpcWebKey, this.ex.protocol);
    this.call = call;
    this.deps.handler(call).then(
      (reply) => this.relay(call, reply),
      (err: unknown) => {
        // rescue turns failures into replies; this is the last line of defence.
        const e = toProxyError(err);
        call.clearDeadline();
        this.fail(e);
      },
    );
  }

  private respondHeaders(extra: OutgoingHttpHeaders): void {
    this.ex.respond(200, { ...extra, ...this.cors, 'content-type': responseContentType(this.ct) });
  }

  private writeFrame(bytes: Buffer): boolean {
    // -text: each chunk is its own padded base64 run, so every message reaches the page as soon as it arrives.
    return this.ex.write(this.ct.text ? Buffer.from(bytes.toString('base64'), 'latin1') : bytes);
  }

  private relay(call: ProxyCall, reply: ProxyReply): void {
    this.reply = reply;
    reply.onEnd((end) => {
      call.clearDeadline();
      this.deps.onCall?.(this.ex.protocol, this.encoding, end.status);
      this.release();
    });
    if (this.ex.done) {
      reply.body?.destroy();
      return;
    }
    const body = reply.body;
    if (body === null) {
      // Trailers-Only: the status headers become the trailers frame (clients read it there without CORS exposure).
      const trailers: OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(reply.headers)) if (!k.startsWith(':') && !DROP_RESPONSE_HEADERS.has(k)) trailers[k] = v;
      this.respondHeaders({});
      this.writeFrame(encodeTrailerFrame(trailers));
      this.ex.end();
      return;
    }
    call.body.commit();
    const pass: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(reply.headers)) if (!k.startsWith(':') && !DROP_RESPONSE_HEADERS.has(k)) pass[k] = v;
    this.respondHeaders(pass);
    let trailersSent = false;
    const sendTrailers = () => {
      if (trailersSent) return;
      trailersSent = true;
      if (this.ex.done) return;
      const end = reply.end;
      const trailers =
        reply.trailers ??
        (end?.error !== undefined ? { 'grpc-status': String(end.status), 'x-meshlet-error': end.error.code } : { 'grpc-status': String(Status.UNKNOWN), 'grpc-message': 'upstream sent no trailers' });
      this.writeFrame(encodeTrailerFrame(trailers as Record<string, unknown>));
      this.ex.end();
    };
    const onData = (chunk: Buffer) => {
      call.responseBytes += chunk.length;
      if (!this.writeFrame(chunk)) {
        body.pause();
        this.ex.onceDrain(() => body.resume());
      }
    };
    body.on('data', onData);
    body.on('end', () => reply.onEnd(sendTrailers));
    reply.onEnd((end) => {
      if (end.error !== undefined) {
        body.removeListener('data', onData);
        sendTrailers();
      }
    });
  }
}

function badBody(err: unknown): ProxyError {
  if (err instanceof GrpcWebFormatError) return new ProxyError('ERR_GRPCWEB_BAD_BODY', `bad gRPC-Web request body: ${err.message}`, { cause: err });
  return toProxyError(err);
}

/** The native gRPC request headers for a gRPC-Web request: pseudo-headers, application/grpc, te: trailers, metadata. */
function callHeaders(ex: WebExchange): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {
    ':method': 'POST',
    ':scheme': 'http',
    ':path': ex.path,
    ':authority': ex.authority,
    'content-type': 'application/grpc',
    te: 'trailers',
  };
  for (const [k, v] of Object.entries(ex.headers)) {
    if (k.startsWith(':') || DROP_HEADERS.has(k) || k.startsWith('sec-') || k.startsWith('access-control-')) continue;
    headers[k] = v;
  }
  return headers;
}
