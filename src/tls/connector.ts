// SPDX-License-Identifier: Apache-2.0
// Upstream mTLS origination: a session-pool Connector that opens TLS with the current generation's client context
// (our certificate, the trust bundle), offers ALPN h2 only, resumes sessions per endpoint, and replaces hostname
// checks with the upstream's expected SPIFFE IDs (or, in quick mode, a DNS name). One handshake per connection.

import { isIP, type Socket } from 'node:net';
import tls from 'node:tls';
import { ProxyError } from '../errors.js';
import type { Connector } from '../h2/session-pool.js';
import { spiffeIdMatchesAny, spiffeIdOf } from './peer.js';

/** What the upstream's certificate must show: one of these SPIFFE ID patterns, or (quick mode) this DNS name. */
export type PeerCheck =
  | { readonly kind: 'spiffe'; readonly patterns: readonly string[] }
  | { readonly kind: 'hostname'; readonly name: string };

export interface TlsConnectorOptions {
  /** The client context of the current generation (read once per connection) and its generation number. */
  readonly context: () => { readonly generation: number; readonly client: tls.SecureContext };
  /** What endpoint `address` (host:port) must present. Evaluated once per connection. */
  readonly check: (address: string, host: string) => PeerCheck;
  /** SNI to send; default: the hostname check's name, else the host; never sent when it is an IP. */
  readonly servername?: string;
  /** Resumable sessions kept, over all endpoints; default 1024, oldest dropped first. */
  readonly maxCachedSessions?: number;
  /** Called for each refused upstream identity, with what was expected and what came (a log line). */
  readonly onIdentityMismatch?: (address: string, expected: string, got: string) => void;
}

const kHandshake = Symbol('meshlet.tlsPhase');
type Phased = tls.TLSSocket & { [kHandshake]?: 'tcp' | 'tls' | 'done' };

/**
 * A Connector for src/h2/session-pool.ts. Verification: the chain must end in the context's CA (`rejectUnauthorized`)
 * and `check` must hold, else the attempt fails with ERR_TLS_PEER_IDENTITY (or ERR_TLS_HANDSHAKE / ERR_TLS_NO_H2),
 * all UNAVAILABLE and never having reached the app. Resumed sessions skip verification (Node does not re-run
 * `checkServerIdentity`, and the peer certificate is not available on a resumed TLS 1.3 client session), so the
 * cache key holds the generation and the check: a session is only offered to the same endpoint, under the same
 * expectations, and only the server that issued its ticket (after the verified handshake) can accept it.
 */
export function createTlsConnector(opts: TlsConnectorOptions): Connector {
  const sessions = new Map<string, Buffer>();
  const maxSessions = opts.maxCachedSessions ?? 1024;
  return {
    connect(address, host, port) {
      const { generation, client } = opts.context();
      const check = opts.check(address, host);
      const expected = check.kind === 'spiffe' ? check.patterns.join(' | ') : `DNS name ${check.name}`;
      const key = `${generation}|${address}|${check.kind}:${expected}`;
      // SNI carries DNS names only (RFC 6066 §3): never an IP.
      const sni = opts.servername ?? (check.kind === 'hostname' ? check.name : host);
      const servername = isIP(sni) === 0 ? sni : undefined;
      const socket: Phased = tls.connect({
        host,
        port,
        secureContext: client,
        ALPNProtocols: ['h2'],
        rejectUnauthorized: true,
        ...(servername !== undefined ? { servername } : {}),
        session: sessions.get(key),
        // Runs after the chain verified against the bundle; hostname rules do not apply to SPIFFE (the URI SAN is it).
        checkServerIdentity: (_host, cert) => {
          if (check.kind === 'hostname') {
            const err = tls.checkServerIdentity(check.name, cert);
            if (err === undefined) return undefined;
            opts.onIdentityMismatch?.(address, expected, cert.subjectaltname ?? String(cert.subject?.CN ?? 'no names'));
            return new ProxyError('ERR_TLS_PEER_IDENTITY', `upstream ${address} is not ${check.name}: ${err.message}`, {
              neverReachedApp: true,
            });
          }
          const id = spiffeIdOf(cert);
          const got = id.ok ? id.id : `none (${id.reason})`;
          if (id.ok && spiffeIdMatchesAny(id.id, check.patterns)) return undefined;
          opts.onIdentityMismatch?.(address, expected, got);
          return new ProxyError('ERR_TLS_PEER_IDENTITY', `upstream ${address} presented ${got}, expected ${expected}`, {
            neverReachedApp: true,
          });
        },
      });
      // RPCs are small writes that must not wait for ACKs (Nagle).
      socket.setNoDelay(true);
      socket[kHandshake] = 'tcp';
      socket.once('connect', () => {
        if (socket[kHandshake] === 'tcp') socket[kHandshake] = 'tls';
      });
      socket.on('session', (session: Buffer) => {
        sessions.delete(key);
        sessions.set(key, session);
        if (sessions.size > maxSessions) sessions.delete(sessions.keys().next().value as string);
      });
      socket.once('secureConnect', () => {
        socket[kHandshake] = 'done';
        if (socket.alpnProtocol !== 'h2') {
          sessions.delete(key);
          socket.destroy(
            new ProxyError('ERR_TLS_NO_H2', `upstream ${address} did not negotiate ALPN h2 (got ${String(socket.alpnProtocol)})`, {
              neverReachedApp: true,
            }),
          );
        }
      });
      return socket;
    },
    connectError(socket, address, err) {
      if ((socket as Socket & { [kHandshake]?: string })[kHandshake] !== 'tls') return undefined; // TCP errors keep the pool's mapping
      const code = (err as NodeJS.ErrnoException).code;
      // A failed handshake may be our stale ticket: forget the endpoint's sessions.
      for (const k of sessions.keys()) if (k.includes(`|${address}|`)) sessions.delete(k);
      return new ProxyError('ERR_TLS_HANDSHAKE', `TLS handshake with ${address} failed: ${code ?? err.message}`, {
        cause: err,
        neverReachedApp: true,
      });
    },
  };
}
