// SPDX-License-Identifier: Apache-2.0
// Upstream HTTP/2 sessions per endpoint: many calls multiplexed over few connections, a new connection only when the
// others are at the peer's MAX_CONCURRENT_STREAMS or, to a peer whose connection window held back our DATA, at the
// pool's own per-session cap; GOAWAY-aware, keepalive PINGs and idle close. Used by forward.ts.

import type { SendableHeaders } from './headers.js';
import net from 'node:net';
import { ProxyError } from '../errors.js';
import { splitHostPort } from '../net/address.js';
import { H2Connection, STREAM_ID_LIMIT } from './connection.js';
import type { Settings } from './frame.js';
import type { H2Stream } from './stream.js';

export interface SessionPoolOptions {
  /** TCP connect + first SETTINGS; default 3000 ms, range 10-60000. */
  readonly connectTimeoutMs: number;
  /** PING interval while calls are in flight; default 10000 ms. */
  readonly keepaliveIntervalMs: number;
  /** A PING unanswered this long closes the session; default 20000 ms. */
  readonly keepaliveTimeoutMs: number;
  /** A session without calls for this long is closed; default 60000 ms. */
  readonly idleTimeoutMs: number;
  /** At most this many sessions per endpoint; default 8, range 1-64. */
  readonly maxSessionsPerEndpoint: number;
  /**
   * Once the peer's connection window has held back our DATA on a session to an endpoint, the streams each session
   * to it carries before the pool prefers opening another one (while under `maxSessionsPerEndpoint`), so calls get
   * more of the peer's windows; the peer's SETTINGS_MAX_CONCURRENT_STREAMS still applies when lower. Once every
   * session is at this cap and no more may be opened, new calls go to the least loaded session. Default: the peer's
   * limit alone.
   */
  readonly maxStreamsPerSession?: number;
  /** Per-stream receive window we advertise; default 1 MiB (64 KiB, the HTTP/2 default, throttles large messages). */
  readonly streamWindowBytes?: number;
  /** Connection receive window; default 16 MiB. */
  readonly connectionWindowBytes?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce on responses; default 64 KiB. */
  readonly maxHeaderListBytes?: number;
  /**
   * Opens the transport to an endpoint; default `plainConnector` (TCP, h2c). A TLS connector (src/tls/connector.ts)
   * returns a TLSSocket: the engine writes its preface at once (buffered until the handshake completes) and the
   * connect timeout covers the handshake, which happens once per connection, never per call. A connector fails a
   * connection by destroying the socket with a ProxyError, which the pool reports as it is.
   */
  readonly connector?: Connector;
}

/** How the pool opens transports. The engine holds no TLS policy: connectors decide what to verify. */
export interface Connector {
  /** Opens a socket to `host:port` for endpoint `address`. Must not throw; failures arrive as socket errors. */
  connect(address: string, host: string, port: number): net.Socket;
  /**
   * Maps a failure before the peer's first SETTINGS (e.g. a TLS handshake error) to the ProxyError the attempt fails
   * with; undefined = the pool's own ERR_UPSTREAM_CONNECT.
   */
  connectError?(socket: net.Socket, address: string, err: Error): ProxyError | undefined;
}

/** TCP with TCP_NODELAY: RPCs are small writes that must not wait for ACKs (Nagle); every gRPC stack sets it. */
export const plainConnector: Connector = { connect: (_address, host, port) => net.connect({ host, port, noDelay: true }) };

/** Events the pool reports, for logs and metrics (wired in src/app/pool.ts). */
export interface SessionPoolEvents {
  onConnect?(address: string): void;
  onConnectError?(address: string, err: ProxyError): void;
  onClose?(address: string, reason: 'idle' | 'goaway' | 'error' | 'keepalive' | 'closed'): void;
  /** The endpoint's connection window held back DATA: `maxStreamsPerSession` applies to it from now on. */
  onWindowBound?(address: string, maxStreamsPerSession: number): void;
}


/** One HTTP/2 connection to an endpoint. */
export class PooledSession {
  readonly address: string;
  readonly session: H2Connection;
  /**
   * Streams opened by us and not yet closed on the wire (or waiting for the peer's stream limit). Counted by the
   * connection itself, so a stream whose reader went away can never hold a slot.
   */
  get active(): number {
    return this.session.activeStreams + this.session.waitingStreams;
  }
  /** Slots handed out by `acquire` whose stream is not opened yet (the caller may still be between microtasks). */
  reserved = 0;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (unbounded until its SETTINGS arrive; we wait for them). */
  maxStreams = Infinity;
  /** GOAWAY received, or closing: no new streams. */
  draining = false;
  /** The connection failed (socket error, keepalive timeout, GOAWAY with an error): in-flight calls were lost. */
  lost = false;
  /** When the session was opened; it is idle from then, or from its last stream's close (H2Connection). */
  readonly openedMs: number;
  /** Why we are closing it ourselves (reported when its 'close' arrives, which may be at once). */
  closeReason: 'idle' | 'keepalive' | undefined;
  private lastPingMs = 0;

  constructor(address: string, session: H2Connection, now: number) {
    this.address = address;
    this.session = session;
    this.openedMs = now;
  }

  /** True when a new stream is within both the peer's limit and `cap`, the pool's (Infinity when it has none). */
  hasRoom(cap: number): boolean {
    return !this.draining && this.active + this.reserved < (cap < this.maxStreams ? cap : this.maxStreams);
  }

  /** Gives back a slot from `acquire` that will not be used (the call failed before its stream was opened). */
  release(): void {
    if (this.reserved > 0) this.reserved--;
  }

  /**
   * Opens a stream. Throws a ProxyError marked `neverReachedApp` when the session can no longer open streams (GOAWAY
   * raced us, or it was destroyed).
   */
  request(headers: SendableHeaders): H2Stream {
    this.release();
    let stream: H2Stream;
    try {
      stream = this.session.request(headers);
    } catch (err) {
      this.draining = true;
      throw new ProxyError('ERR_UPSTREAM_GOAWAY', `upstream ${this.address} no longer accepts streams`, {
        cause: err,
        neverReachedApp: true,
      });
    }
    if (this.session.nextStreamId > STREAM_ID_LIMIT) this.draining = true;
    return stream;
  }

  /** Called by the pool's timer: PINGs busy sessions, closes idle ones. Returns why it closed, if it did. */
  tick(now: number, opts: SessionPoolOptions): 'idle' | undefined {
    if (this.active === 0) {
      if (now - Math.max(this.openedMs, this.session.lastStreamClosedMs) >= opts.idleTimeoutMs) {
        this.draining = true;
        this.closeReason = 'idle';
        this.session.close();
        return 'idle';
      }
      return undefined;
    }
    if (now - this.lastPingMs >= opts.keepaliveIntervalMs) {
      this.lastPingMs = now;
      const timer = setTimeout(() => {
        this.lost = true;
        this.closeReason = 'keepalive';
        this.session.destroy(new Error(`keepalive PING to ${this.address} unanswered`));
      }, opts.keepaliveTimeoutMs);
      timer.unref();
      try {
        this.session.ping((err) => {
          clearTimeout(timer);
          if (err) this.lost = true;
        });
      } catch {
        clearTimeout(timer);
      }
    }
    return undefined;
  }
}

function reserve(s: PooledSession): PooledSession {
  s.reserved++;
  return s;
}

/** The sessions of one endpoint. */
class EndpointSessions {
  readonly sessions: PooledSession[] = [];
  connecting: Promise<PooledSession> | undefined;
  /**
   * The endpoint's connection window has held back DATA on one of its sessions: from then on (until the endpoint has
   * no session left) `maxStreamsPerSession` applies to its sessions.
   */
  windowBound = false;

  /** True when the peer's connection window held back DATA on one of the sessions. */
  stalled(): boolean {
    const list = this.sessions;
    for (let i = 0; i < list.length; i++) if ((list[i] as PooledSession).session.sendWindowStalls > 0) return true;
    return false;
  }
}

/**
 * Sessions to every endpoint the proxy talks to. `acquire` returns a session synchronously in the common case (one
 * with spare stream capacity exists) and a promise only when a connection must be opened.
 */
export class SessionPool {
  private readonly endpoints = new Map<string, EndpointSessions>();
  private readonly opts: SessionPoolOptions;
  private readonly events: SessionPoolEvents;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** `maxStreamsPerSession`, Infinity when not set. */
  private readonly streamCap: number;

  constructor(opts: SessionPoolOptions, events: SessionPoolEvents = {}) {
    this.opts = opts;
    this.events = events;
    this.streamCap = opts.maxStreamsPerSession ?? Infinity;
    const tickMs = Math.max(250, Math.min(opts.keepaliveIntervalMs, opts.idleTimeoutMs) / 2);
    this.timer = setInterval(this.tick, tickMs);
    this.timer.unref();
  }

  /**
   * A session to `address` (host:port) with spare capacity: an existing one, a new one when all are full and the
   * limit allows, else the least loaded (past the pool's cap it opens the stream at once; past the peer's
   * MAX_CONCURRENT_STREAMS its connection holds the stream until a slot frees). Rejects with ERR_UPSTREAM_CONNECT(_TIMEOUT).
   * The returned session has a slot reserved for the caller, who must call `request()` or `release()` on it.
   */
  acquire(address: string): PooledSession | Promise<PooledSession> {
    let ep = this.endpoints.get(address);
    if (ep === undefined) {
      ep = new EndpointSessions();
      this.endpoints.set(address, ep);
    }
    let best: PooledSession | undefined;
    const list = ep.sessions;
    const cap = this.capOf(address, ep);
    for (let i = 0; i < list.length; i++) {
      const s = list[i] as PooledSession;
      if (s.hasRoom(cap)) return reserve(s);
      if (!s.draining && (best === undefined || s.active + s.reserved < best.active + best.reserved)) best = s;
    }
    // Waiters re-check once the new session is up: it may fill up (MAX_CONCURRENT_STREAMS) before they get a turn.
    if (ep.connecting !== undefined) return ep.connecting.then(() => this.acquire(address));
    if (best !== undefined && list.length >= this.opts.maxSessionsPerEndpoint) return reserve(best);
    return this.connect(address, ep);
  }

  /** The per-session stream cap for an endpoint: `maxStreamsPerSession` once it is window-bound, else none. */
  private capOf(address: string, ep: EndpointSessions): number {
    if (ep.windowBound) return this.streamCap;
    if (this.streamCap === Infinity || !ep.stalled()) return Infinity;
    ep.windowBound = true;
    this.events.onWindowBound?.(address, this.streamCap);
    return this.streamCap;
  }

  private connect(address: string, ep: EndpointSessions): Promise<PooledSession> {
    if (this.closed) {
      return Promise.reject(new ProxyError('ERR_DRAINING', 'proxy is shutting down', { neverReachedApp: true }));
    }
    const promise = new Promise<PooledSession>((resolve, reject) => {
      const streamWindow = this.opts.streamWindowBytes ?? 1 << 20;
      const { host, port } = splitHostPort(address);
      const connector = this.opts.connector ?? plainConnector;
      const socket = connector.connect(address, host, port);
      const session = new H2Connection(socket, {
        role: 'client',
        streamWindowBytes: streamWindow,
        connectionWindowBytes: this.opts.connectionWindowBytes ?? 16 << 20,
        maxHeaderListBytes: this.opts.maxHeaderListBytes,
      });
      const pooled = new PooledSession(address, session, performance.now());
      let settled = false;
      const fail = (err: ProxyError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ep.connecting = undefined;
        session.destroy();
        this.events.onConnectError?.(address, err);
        reject(err);
      };
      const timer = setTimeout(() => {
        fail(
          new ProxyError('ERR_UPSTREAM_CONNECT_TIMEOUT', `connect to ${address} timed out after ${this.opts.connectTimeoutMs} ms`, {
            neverReachedApp: true,
          }),
        );
      }, this.opts.connectTimeoutMs);
      // Streams opened before the peer's SETTINGS can be refused (seen with grpc-js servers): wait for them.
      session.once('remoteSettings', (settings: Settings) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        pooled.maxStreams = settings.maxConcurrentStreams;
        ep.connecting = undefined;
        if (this.closed) {
          session.close();
          reject(new ProxyError('ERR_DRAINING', 'proxy is shutting down', { neverReachedApp: true }));
          return;
        }
        ep.sessions.push(pooled);
        this.events.onConnect?.(address);
        resolve(reserve(pooled));
      });
      session.on('remoteSettings', (settings: Settings) => {
        pooled.maxStreams = settings.maxConcurrentStreams;
      });
      session.on('goaway', (errorCode: number) => {
        pooled.draining = true;
        if (errorCode !== 0) pooled.lost = true;
        this.remove(ep, pooled, 'goaway');
      });
      session.once('close', () => {
        pooled.draining = true;
        const err = session.closeError;
        if (err !== undefined) pooled.lost = true;
        if (!settled && err !== undefined) {
          const mapped = err instanceof ProxyError ? err : connector.connectError?.(socket, address, err);
          if (mapped !== undefined) fail(mapped);
        }
        if (!settled) {
          const errno = (err as NodeJS.ErrnoException | undefined)?.code;
          const why = err === undefined ? 'closed during connect' : `failed: ${typeof errno === 'string' ? errno : err.message}`;
          fail(new ProxyError('ERR_UPSTREAM_CONNECT', `connect to ${address} ${why}`, { cause: err, neverReachedApp: true }));
        }
        this.remove(ep, pooled, pooled.closeReason ?? (pooled.lost ? 'error' : 'closed'));
      });
      // Pooled connections never keep the process alive on their own.
      socket.unref();
    });
    ep.connecting = promise;
    return promise;
  }

  private remove(ep: EndpointSessions, pooled: PooledSession, reason: 'idle' | 'goaway' | 'error' | 'keepalive' | 'closed'): void {
    const i = ep.sessions.indexOf(pooled);
    if (i < 0) return;
    ep.sessions.splice(i, 1);
    this.events.onClose?.(pooled.address, reason);
  }

  private readonly tick = (): void => {
    const now = performance.now();
    for (const [address, ep] of this.endpoints) {
      for (const s of [...ep.sessions]) {
        if (s.tick(now, this.opts) === 'idle') this.remove(ep, s, 'idle');
      }
      if (ep.sessions.length === 0 && ep.connecting === undefined) this.endpoints.delete(address);
    }
  };

  /**
   * Sessions per endpoint with their in-flight streams, and `windowBound` once `maxStreamsPerSession` applies to the
   * endpoint, for /clusters and tests.
   */
  stats(): Record<string, { sessions: number; active: number; windowBound?: true }> {
    const out: Record<string, { sessions: number; active: number; windowBound?: true }> = {};
    for (const [address, ep] of this.endpoints) {
      let active = 0;
      for (const s of ep.sessions) active += s.active;
      out[address] = { sessions: ep.sessions.length, active, ...(ep.windowBound && { windowBound: true as const }) };
    }
    return out;
  }

  /** Closes sessions to an endpoint that left discovery, once their calls finish. */
  retire(address: string): void {
    const ep = this.endpoints.get(address);
    if (ep === undefined) return;
    for (const s of ep.sessions) {
      s.draining = true;
      s.session.close();
    }
  }

  /** Graceful: no new sessions; existing ones close once their streams finish. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const ep of this.endpoints.values()) for (const s of ep.sessions) s.session.close();
  }

  /** Immediate: destroys every session (after the drain timeout). */
  destroy(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const ep of this.endpoints.values()) for (const s of ep.sessions) s.session.destroy();
    this.endpoints.clear();
  }
}
