// SPDX-License-Identifier: Apache-2.0
// TLS SecureContexts built once per certificate generation (server side for the inbound listener, inside a
// never-listening tls.Server; client side for upstream sessions) and swapped when the CertSource changes: new handshakes use the new certificate at once,
// established connections keep the context they were made with. Building a context costs ~1.2 ms (key parsing,
// X.509 store), so it is never done per connection.

import { randomBytes } from 'node:crypto';
import tls from 'node:tls';
import type { CertSource, TlsMaterial } from './material.js';

/** TLS protocol floor; TLS 1.3 is always preferred (it is the maximum). */
export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

/** Session ticket / session cache lifetime on the server. Seconds; bounds how long a resumed peer skips verification. */
export const SESSION_TIMEOUT_S = 300;

/** PEM parts of one context. `caPem` is what peers must chain to; absent = peers are not verified by this side. */
export interface ContextParts {
  readonly certChainPem?: string;
  readonly keyPem?: string;
  readonly caPem?: string;
  readonly minVersion: TlsMinVersion;
  /** Also offer ALPN `http/1.1` (after `h2`): the listener serves gRPC-Web over HTTP/1.1 (docs/grpc-web.md). */
  readonly http1?: boolean;
}

/**
 * The server side of one generation: a tls.Server that never listens and holds the generation's one SecureContext;
 * listeners hand it accepted sockets (src/tls/accept.ts). ALPN `h2` only (a client offering only other protocols
 * fails the handshake with no_application_protocol, RFC 7301 §3.2). With `caPem`, client certificates are required
 * and must chain to it. `ticketKeys` (48 bytes) encrypt session tickets; `sessionIdContext` is required by OpenSSL
 * for resumption when client certificates are requested. Throws (node:tls error naming the problem) on bad PEM.
 */
export function buildServerTls(parts: ContextParts, ticketKeys: Buffer): tls.Server {
  const mutual = parts.caPem !== undefined;
  return tls.createServer({
    cert: parts.certChainPem,
    key: parts.keyPem,
    ...(mutual ? { ca: parts.caPem } : {}),
    requestCert: mutual,
    rejectUnauthorized: mutual,
    // h2 first: OpenSSL picks by the server's order, so a client offering both (every browser) gets h2.
    ALPNProtocols: parts.http1 === true ? ['h2', 'http/1.1'] : ['h2'],
    minVersion: parts.minVersion,
    maxVersion: 'TLSv1.3',
    sessionIdContext: 'meshlet',
    ticketKeys,
    sessionTimeout: SESSION_TIMEOUT_S,
  });
}

/** A client-side context: our certificate (when we present one) and the roots the server must chain to. */
export function buildClientContext(parts: ContextParts): tls.SecureContext {
  return tls.createSecureContext({
    ...(parts.certChainPem !== undefined ? { cert: parts.certChainPem, key: parts.keyPem } : {}),
    ...(parts.caPem !== undefined ? { ca: parts.caPem } : {}),
    minVersion: parts.minVersion,
    maxVersion: 'TLSv1.3',
  });
}

/** The contexts of one generation of material. */
export interface ContextGeneration {
  readonly generation: number;
  /** This sidecar's SPIFFE ID. */
  readonly identity: string;
  /** The handshake engine of the inbound listener (mTLS: client certificates must chain to the bundle). */
  readonly server: tls.Server;
  readonly client: tls.SecureContext;
}

/** The live contexts of a sidecar, following its CertSource. */
export interface TlsContexts {
  /** Awaits the source's first material (CertSource#start) and builds its contexts. Rejects like the source. */
  start(): Promise<ContextGeneration>;
  /** The newest generation. Throws before `start` resolved (an invariant: nothing listens or connects before). */
  current(): ContextGeneration;
  /** Called after each swap (after the new contexts are in place); returns an unsubscribe function. */
  onSwap(listener: (generation: ContextGeneration) => void): () => void;
  /** Stops following the source (does not close it). */
  close(): void;
}

export interface TlsContextsOptions {
  readonly minVersion: TlsMinVersion;
  /** Offer ALPN `http/1.1` too on the server side (gRPC-Web on the inbound listener); default false. */
  readonly http1?: boolean;
  /** Reports a generation whose contexts could not be built; the previous one stays in use. */
  readonly onError?: (generation: number, err: Error) => void;
}

/**
 * Contexts that follow `source`. Session ticket keys: kept while the trust bundle is unchanged, renewed with the
 * first generation whose bundle differs. A ticket stands for a peer verified against the bundle of its time; after
 * a leaf-only rotation that verification still holds (resumption keeps working, no handshake storm), after a bundle
 * change it may not (a root was removed), so those peers make one full handshake.
 */
export function createTlsContexts(source: CertSource, options: TlsContextsOptions): TlsContexts {
  let current: ContextGeneration | undefined;
  let ticketKeys = randomBytes(48);
  let bundle: string | undefined;
  let unsubscribe: (() => void) | undefined;
  const listeners = new Set<(g: ContextGeneration) => void>();

  const build = (m: TlsMaterial): ContextGeneration => {
    if (bundle !== undefined && bundle !== m.trustBundlePem) ticketKeys = randomBytes(48);
    const parts = { certChainPem: m.certChainPem, keyPem: m.keyPem, caPem: m.trustBundlePem, minVersion: options.minVersion, http1: options.http1 === true };
    const g = { generation: m.generation, identity: m.identity, server: buildServerTls(parts, ticketKeys), client: buildClientContext(parts) };
    bundle = m.trustBundlePem;
    return g;
  };
  const swap = (m: TlsMaterial) => {
    if (current !== undefined && m.generation <= current.generation) return;
    try {
      current = build(m);
    } catch (err) {
      options.onError?.(m.generation, err as Error);
      return;
    }
    for (const l of listeners) l(current);
  };

  return {
    async start() {
      const first = await source.start();
      if (current === undefined) current = build(first);
      unsubscribe ??= source.onChange(swap);
      // A change may have landed between start() resolving and the subscription.
      const latest = source.current();
      if (latest !== undefined) swap(latest);
      return current;
    },
    current() {
      if (current === undefined) throw new Error('TLS contexts used before the certificate source started');
      return current;
    },
    onSwap(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      unsubscribe?.();
      unsubscribe = undefined;
      listeners.clear();
    },
  };
}
