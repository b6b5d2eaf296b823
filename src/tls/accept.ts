// SPDX-License-Identifier: Apache-2.0
// The TLS front of an inbound connection, before HTTP/2 starts: reads the first bytes, tells TLS from plaintext h2c
// (src/tls/detect.ts), runs the server handshake with the current generation's context, checks ALPN `h2` and the
// peer's SPIFFE ID, and hands the (TLS) socket on. Mechanism only: which mode applies is the listener's option.

import type { Socket } from 'node:net';
import tls from 'node:tls';
import { detectProtocol } from './detect.js';
import { spiffeIdOf } from './peer.js';

/** TLS on an inbound listener. */
export interface InboundTls {
  /** strict: TLS only (plaintext h2c is refused); permissive: TLS or plaintext h2c on the same port. */
  readonly mode: 'strict' | 'permissive';
  /**
   * The handshake engine for a new connection: the current generation's never-listening tls.Server
   * (src/tls/contexts.ts buildServerTls), read once per connection.
   */
  readonly server: () => tls.Server;
  /**
   * Request a client certificate and refuse the handshake unless it chains to the context's CA (mTLS). Default
   * true. False: server-only TLS (quick mode without --tls-client-ca).
   */
  readonly requireClientCert?: boolean;
  /** Refuse a client certificate without exactly one SPIFFE ID (URI SAN). Default true when client certs are required. */
  readonly requireSpiffeId?: boolean;
  /**
   * Take HTTP/1.1 too (gRPC-Web): a TLS peer that negotiated ALPN `http/1.1` (the server must offer it, see
   * contexts.ts `http1`) and, in permissive mode, plaintext that is not the HTTP/2 preface are accepted with
   * `protocol: 'http/1.1'`. Default false: HTTP/2 only.
   */
  readonly http1?: boolean;
}

/** Why an inbound connection was refused before HTTP/2, as a `meshlet_connection_errors_total` reason. */
export type AcceptFailure =
  | 'tls_required' // strict mode, the peer spoke plaintext h2c
  | 'tls_handshake' // the handshake failed: not TLS, bad ClientHello, untrusted, expired or missing client cert
  | 'tls_no_h2' // the peer did not negotiate ALPN h2 (e.g. offered only http/1.1)
  | 'tls_peer_identity' // a verified certificate without exactly one SPIFFE ID
  | 'not_h2' // neither TLS nor the HTTP/2 preface (permissive mode)
  | 'handshake_timeout'; // no complete TLS handshake within the listener's handshake timeout

export type Accepted = {
  readonly socket: Socket;
  readonly tls: boolean;
  readonly identity: string | undefined;
  /** What to speak on the socket: `h2`, or `http/1.1` (only with InboundTls.http1). */
  readonly protocol: 'h2' | 'http/1.1';
};

export interface AcceptCallbacks {
  accepted(result: Accepted): void;
  refused(reason: AcceptFailure, err: Error): void;
}

interface HandshakeWaiter {
  failed(err: NodeJS.ErrnoException): void;
  secure(socket: tls.TLSSocket): void;
}

/** Waiters per handshake engine, by the peer's `address:port` (unique among a listener's live connections). */
const waiters = new WeakMap<tls.Server, Map<string, HandshakeWaiter>>();

/**
 * Runs the server handshake of `socket` on `server`. The handshake goes through tls.Server (`emit('connection')`)
 * because only its TLSSocket path enforces `rejectUnauthorized` for client certificates (a bare server TLSSocket
 * reports nothing about a chain that failed to verify); its events carry the TLSSocket, matched back by address.
 */
function handshake(server: tls.Server, socket: Socket, waiter: HandshakeWaiter): () => void {
  let byPeer = waiters.get(server);
  if (byPeer === undefined) {
    const map = new Map<string, HandshakeWaiter>();
    byPeer = map;
    waiters.set(server, map);
    const take = (t: tls.TLSSocket) => {
      const key = `${t.remoteAddress}:${t.remotePort}`;
      const w = map.get(key);
      map.delete(key);
      return w;
    };
    server.on('secureConnection', (t: tls.TLSSocket) => take(t)?.secure(t));
    server.on('tlsClientError', (err: NodeJS.ErrnoException, t: tls.TLSSocket) => {
      const w = take(t); // before destroy(): a destroyed socket no longer knows its peer address
      t.destroy();
      w?.failed(err);
    });
  }
  const key = `${socket.remoteAddress}:${socket.remotePort}`;
  byPeer.set(key, waiter);
  server.emit('connection', socket);
  const map = byPeer;
  return () => {
    if (map.get(key) === waiter) map.delete(key);
  };
}

/**
 * Runs the pre-HTTP/2 phase of `socket` and calls exactly one callback. `timeoutMs` (0 = none) bounds the whole
 * phase; on refusal the socket is destroyed here. Plaintext sockets are handed on with the bytes read so far put
 * back (`unshift`), so the HTTP/2 engine sees the whole preface.
 */
export function acceptInbound(socket: Socket, opts: InboundTls, timeoutMs: number, cb: AcceptCallbacks): void {
  let done = false;
  let tlsSocket: tls.TLSSocket | undefined;
  let cancelHandshake: (() => void) | undefined;
  const timer = timeoutMs > 0 ? setTimeout(() => refuse('handshake_timeout', new Error(`no TLS handshake within ${timeoutMs} ms`)), timeoutMs) : undefined;
  timer?.unref();
  const finish = () => {
    done = true;
    if (timer !== undefined) clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('error', onEarlyError);
    socket.removeListener('close', onEarlyClose);
  };
  const refuse = (reason: AcceptFailure, err: Error) => {
    if (done) return;
    finish();
    cancelHandshake?.();
    (tlsSocket ?? socket).destroy();
    socket.destroy();
    cb.refused(reason, err);
  };
  const onEarlyError = (err: Error) => refuse('tls_handshake', err);
  const onEarlyClose = () => refuse('tls_handshake', new Error('the peer closed the connection during the handshake'));
  let head: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const kind = detectProtocol(head);
    if (kind === 'more') return;
    socket.removeListener('data', onData);
    socket.pause();
    socket.unshift(head);
    if (kind === 'h2c') {
      if (opts.mode === 'strict') return refuse('tls_required', new Error('plaintext HTTP/2 on a strict mTLS listener'));
      finish();
      // pause() above stopped the flow; a new 'data' listener alone does not restart a stream paused explicitly.
      socket.resume();
      cb.accepted({ socket, tls: false, identity: undefined, protocol: 'h2' });
      return;
    }
    if (kind === 'other') {
      if (opts.mode === 'strict') return startTls(); // let the handshake fail and say why (e.g. a garbage ClientHello)
      if (opts.http1 === true) {
        finish();
        socket.resume();
        cb.accepted({ socket, tls: false, identity: undefined, protocol: 'http/1.1' });
        return;
      }
      return refuse('not_h2', new Error('neither a TLS ClientHello nor the HTTP/2 preface'));
    }
    startTls();
  };
  const startTls = () => {
    const requireCert = opts.requireClientCert ?? true;
    cancelHandshake = handshake(opts.server(), socket, {
      failed: (err) => refuse(err.code === 'ERR_SSL_NO_APPLICATION_PROTOCOL' ? 'tls_no_h2' : 'tls_handshake', err),
      secure: (t) => {
        tlsSocket = t;
        if (done) return;
        const http1 = opts.http1 === true && t.alpnProtocol === 'http/1.1';
        if (t.alpnProtocol !== 'h2' && !http1) {
          return refuse('tls_no_h2', new Error(`the peer negotiated ALPN ${t.alpnProtocol === false ? 'none' : String(t.alpnProtocol)}, not h2`));
        }
        let identity: string | undefined;
        if (requireCert) {
          const id = spiffeIdOf(t.getPeerCertificate());
          if (id.ok) identity = id.id;
          else if (opts.requireSpiffeId ?? true) return refuse('tls_peer_identity', new Error(`client certificate refused: ${id.reason}`));
        }
        finish();
        cb.accepted({ socket: t, tls: true, identity, protocol: http1 ? 'http/1.1' : 'h2' });
      },
    });
  };
  socket.on('data', onData);
  socket.on('error', onEarlyError);
  socket.on('close', onEarlyClose);
}
