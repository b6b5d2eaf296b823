// SPDX-License-Identifier: Apache-2.0
// An HTTP/2 listener (inbound or outbound): turns each downstream stream into a ProxyCall, runs the chain, writes
// the reply, and turns a downstream reset into a cancellation. Owns graceful drain (GOAWAY, then a deadline).

import type { IncomingHttpHeaders } from 'node:http2';
import net, { type AddressInfo, type Socket } from 'node:net';
import { splitHostPort } from '../net/address.js';
import { ProxyCall } from './call.js';
import type { Direction, PeerInfo } from '../grpc/call.js';
import { H2Connection } from '../h2/connection.js';
import type { StreamRefusal } from '../h2/incoming-headers.js';
import type { MemoryBudget } from '../h2/memory-budget.js';
import type { H2Stream } from '../h2/stream.js';
import type { Handler } from './layer.js';
import { RequestBody } from './request-body.js';
import { DownstreamCall } from './downstream-call.js';
import { acceptInbound, type InboundTls } from '../tls/accept.js';
import { sniffProtocol } from './sniff.js';
import { isGrpcWebContentType } from '../grpcweb/codec.js';
import { createHttp1Front, type Http1Front } from './web/h1.js';
import { h2Exchange } from './web/h2.js';
import { type GrpcWebOptions, serveGrpcWeb, type WebServeDeps } from './web/serve.js';
import type { WebExchange } from './web/exchange.js';

export interface ListenerOptions {
  readonly direction: Direction;
  /** `host:port`; port 0 picks a free port. */
  readonly listen: string;
  readonly handler: Handler;
  /** Replay buffer per call; default 64 KiB. */
  readonly maxReplayBytes?: number;
  /** Per-stream receive window we advertise; default 1 MiB. */
  readonly streamWindowBytes?: number;
  /** Connection receive window; default 16 MiB. */
  readonly connectionWindowBytes?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS per downstream connection; default 0 = unlimited (config: 128). */
  readonly maxConcurrentStreams?: number;
  /** The stream memory budget shared with the process's other listeners (src/h2/memory-budget.ts); default none. */
  readonly memoryBudget?: MemoryBudget;
  /** Called for each new stream refused (REFUSED_STREAM), with why and the peer's `address:port` (metrics, logs). */
  readonly onStreamRefused?: (reason: StreamRefusal, remote: string) => void;
  /** SETTINGS_MAX_HEADER_LIST_SIZE; default 64 KiB. */
  readonly maxHeaderListBytes?: number;
  /**
   * Close a connection without (TLS handshake +) preface + SETTINGS after this; default 10000 ms, 0 = never. With
   * TLS one budget covers both: HTTP/2 gets what the TLS handshake left.
   */
  readonly handshakeTimeoutMs?: number;
  /**
   * A downstream connection with no stream open for this long is closed gracefully (GOAWAY NO_ERROR; clients
   * reconnect when they next need it). Checked every quarter of it, so it closes between 1 and 1.25 times this
   * after its last stream. Default 0 = never (config: 300000).
   */
  readonly idleTimeoutMs?: number;
  /** TLS on this listener (src/tls/accept.ts); absent = plaintext h2c only. */
  readonly tls?: InboundTls;
  /** Called for each accepted connection and when it closes (metrics). */
  readonly onConnection?: (open: boolean) => void;
  /**
   * Called when a connection ends badly: `reason` is H2Connection#closeReason (`protocol_error`,
   * `enhance_your_calm`, `peer_goaway`, `disconnected`, ...) or, for a connection refused before HTTP/2, an
   * AcceptFailure (`tls_required`, `tls_handshake`, `tls_no_h2`, `tls_peer_identity`, `not_h2`,
   * `handshake_timeout`); `remote` is the peer's `address:port`.
   */
  readonly onConnectionError?: (reason: string, err: Error | undefined, remote: string) => void;
  /**
   * gRPC-Web on this listener (docs/grpc-web.md): HTTP/2 streams with an application/grpc-web* content type (and
   * CORS preflights) go to the gRPC-Web adapter, and plaintext connections that do not start with the HTTP/2
   * preface are served as HTTP/1.1 by node's parser. Absent = native gRPC over HTTP/2 only.
   */
  readonly grpcWeb?: GrpcWebOptions & Pick<WebServeDeps, 'onCall' | 'onRejected'>;
}

/** Idle timeout: sweeps per timeout; a connection idle through one more sweep than this in a row is closed. */
const IDLE_SWEEPS = 4;

/** One proxy listener. Not re-entrant across start/drain: start once, drain once. */
export class ProxyListener {
  readonly direction: Direction;
  private readonly opts: ListenerOptions;
  private readonly server: net.Server;
  private readonly sessions = new Set<H2Connection>();
  /** Sockets still in their TLS handshake (destroyed by drain). */
  private readonly handshaking = new Set<Socket>();
  private inflight = 0;
  private draining = false;
  /** Idle timeout: per connection, the last stream id seen and how many sweeps in a row it had no stream open. */
  private readonly idle = new Map<H2Connection, { lastStreamId: number; sweeps: number }>();
  private idleTimer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  private readonly http1: Http1Front | undefined;
  private readonly webDeps: WebServeDeps | undefined;

  constructor(opts: ListenerOptions) {
    this.opts = opts;
    this.direction = opts.direction;
    // RPCs are small writes that must not wait for ACKs (Nagle); gRPC implementations all set TCP_NODELAY.
    this.server = net.createServer({ noDelay: true }, this.onSocket);
    const idleMs = opts.idleTimeoutMs ?? 0;
    if (idleMs > 0) {
      // A sweep every quarter of the timeout, rather than a timer per connection re-armed on every stream: the
      // streams' path pays nothing for it.
      this.idleTimer = setInterval(this.sweepIdle, Math.max(1, Math.floor(idleMs / IDLE_SWEEPS)));
      this.idleTimer.unref();
    }
    const web = opts.grpcWeb;
    if (web !== undefined) {
      this.webDeps = {
        direction: opts.direction,
        handler: opts.handler,
        options: web,
        onCall: web.onCall,
        onRejected: web.onRejected,
        track: () => {
          this.inflight++;
          return this.callDone;
        },
      };
      this.http1 = createHttp1Front({
        maxHeaderBytes: opts.maxHeaderListBytes,
        onExchange: (ex, socket) => this.onWebExchange(ex, socket),
      });
    }
  }

  private onWebExchange(ex: WebExchange, socket: Socket): void {
    const identity = this.http1?.tagOf(socket) as string | undefined;
    serveGrpcWeb(ex, { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0, identity }, this.webDeps as WebServeDeps);
  }

  /** Serves HTTP/1.1 (gRPC-Web) on `socket`, counted as a connection like an HTTP/2 one. */
  private acceptHttp1(http1: Http1Front, socket: Socket, identity: string | undefined): void {
    this.opts.onConnection?.(true);
    socket.once('close', () => this.opts.onConnection?.(false));
    http1.accept(socket, identity);
  }

  /** A call ended (its stream closed): one function for every call of this listener, HTTP/2 and gRPC-Web alike. */
  private readonly callDone = (): void => {
    if (--this.inflight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  /** Closes (GOAWAY NO_ERROR) the connections that had no stream open and opened none for IDLE_SWEEPS + 1 sweeps in a row. */
  private readonly sweepIdle = (): void => {
    for (const [session, state] of this.idle) {
      const lastStreamId = session.lastPeerStreamId;
      if (session.activeStreams > 0 || lastStreamId !== state.lastStreamId) {
        state.lastStreamId = lastStreamId;
        state.sweeps = 0;
        continue;
      }
      if (++state.sweeps <= IDLE_SWEEPS) continue;
      this.idle.delete(session);
      session.close();
    }
  };

  /** Calls currently in flight on this listener. */
  get activeCalls(): number {
    return this.inflight;
  }

  /** Binds the socket; resolves with the bound address. Rejects on EADDRINUSE etc. */
  start(): Promise<AddressInfo> {
    const { host, port } = splitHostPort(this.opts.listen);
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.removeListener('error', onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  get address(): AddressInfo | undefined {
    return (this.server.address() as AddressInfo | null) ?? undefined;
  }

  /**
   * Graceful drain: stop accepting connections, send GOAWAY on every connection (streams in flight continue; streams
   * the peer opens later are refused, which clients treat as safe to retry elsewhere), wait until in-flight calls
   * finish or `timeoutMs` passes, then close what is left. Resolves with the number of calls cut.
   */
  async drain(timeoutMs: number): Promise<number> {
    this.draining = true;
    if (this.idleTimer !== undefined) clearInterval(this.idleTimer);
    this.server.close();
    for (const s of this.sessions) s.close();
    this.http1?.closeIdle();
    if (this.inflight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const cut = this.inflight;
    for (const s of this.handshaking) s.destroy();
    for (const s of this.sessions) s.destroy();
    this.http1?.destroyAll();
    return cut;
  }

  private readonly onSocket = (socket: Socket): void => {
    const tlsOpts = this.opts.tls;
    if (tlsOpts === undefined) {
      const http1 = this.http1;
      if (http1 === undefined) return this.startSession(socket, undefined, this.opts.handshakeTimeoutMs);
      // gRPC-Web: the first bytes tell HTTP/2 (the preface) from HTTP/1.1 (anything else; node's parser judges it).
      const remote = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
      this.handshaking.add(socket);
      sniffProtocol(
        socket,
        this.opts.handshakeTimeoutMs ?? 10_000,
        (p) => {
          this.handshaking.delete(socket);
          if (p === 'h2c') this.startSession(socket, undefined, this.opts.handshakeTimeoutMs);
          else this.acceptHttp1(http1, socket, undefined);
        },
        (err) => {
          this.handshaking.delete(socket);
          this.opts.onConnectionError?.('handshake_timeout', err, remote);
        },
      );
      return;
    }
    const timeoutMs = this.opts.handshakeTimeoutMs ?? 10_000;
    const startMs = performance.now();
    const remote = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
    this.handshaking.add(socket);
    acceptInbound(socket, tlsOpts, timeoutMs, {
      accepted: (a) => {
        this.handshaking.delete(socket);
        if (a.protocol === 'http/1.1' && this.http1 !== undefined) return this.acceptHttp1(this.http1, a.socket, a.identity);
        // One budget for the TLS handshake and the HTTP/2 preface: HTTP/2 gets what is left (at least 1 ms).
        const left = timeoutMs === 0 ? 0 : Math.max(1, Math.round(timeoutMs - (performance.now() - startMs)));
        this.startSession(a.socket, a.identity, left, socket);
      },
      refused: (reason, err) => {
        this.handshaking.delete(socket);
        this.opts.onConnectionError?.(reason, err, remote);
      },
    });
  };

  /** Runs HTTP/2 on `socket` (plain or TLS); `identity` is the verified peer SPIFFE ID for every call on it. */
  private startSession(socket: Socket, identity: string | undefined, handshakeTimeoutMs: number | undefined, tcp: Socket = socket): void {
    const session = new H2Connection(socket, {
      role: 'server',
      streamWindowBytes: this.opts.streamWindowBytes ?? 1 << 20,
      connectionWindowBytes: this.opts.connectionWindowBytes ?? 16 << 20,
      maxConcurrentStreams: this.opts.maxConcurrentStreams ? this.opts.maxConcurrentStreams : undefined,
      maxHeaderListBytes: this.opts.maxHeaderListBytes,
      handshakeTimeoutMs,
      ...(this.opts.memoryBudget !== undefined ? { memoryBudget: this.opts.memoryBudget } : {}),
    });
    // One PeerInfo per connection: every call on it shares the peer's verified SPIFFE ID (mTLS) or none.
    const peer: PeerInfo = { address: tcp.remoteAddress ?? '', port: tcp.remotePort ?? 0, identity };
    this.sessions.add(session);
    if (this.idleTimer !== undefined) this.idle.set(session, { lastStreamId: 0, sweeps: 0 });
    this.opts.onConnection?.(true);
    session.on('stream', (stream: H2Stream, headers: IncomingHttpHeaders) => this.onStream(stream, headers, peer));
    const onRefused = this.opts.onStreamRefused;
    if (onRefused !== undefined) session.on('streamRefused', (reason: StreamRefusal) => onRefused(reason, `${peer.address}:${peer.port}`));
    session.once('close', () => {
      this.sessions.delete(session);
      this.idle.delete(session);
      this.opts.onConnection?.(false);
      const reason = session.closeReason;
      if (reason !== undefined) this.opts.onConnectionError?.(reason, session.closeError, `${peer.address}:${peer.port}`);
    });
    if (this.draining) session.close();
  }

  private onStream(stream: H2Stream, headers: IncomingHttpHeaders, peer: PeerInfo): void {
    if (this.webDeps !== undefined && (headers[':method'] === 'OPTIONS' || isGrpcWebContentType(headers['content-type']))) {
      return serveGrpcWeb(h2Exchange(stream, headers), peer, this.webDeps);
    }
    const body = new RequestBody(stream, this.opts.maxReplayBytes);
    const call = new ProxyCall(this.direction, headers, body, peer, performance.now());
    this.inflight++;
    new DownstreamCall(call, stream, this.callDone).run(this.opts.handler);
  }
}
