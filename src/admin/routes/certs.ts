// SPDX-License-Identifier: Apache-2.0
// GET /certs: the certificates this sidecar presents and trusts right now, as JSON: the source, the identity, the
// generation, validity and time left, each certificate of the chain and of the trust bundle. Never the key.

import { X509Certificate } from 'node:crypto';
import { uriSans } from '../../spiffe/identity.js';
import type { CertSource } from '../../tls/material.js';
import { oneLineName, splitPemCertificates } from '../../tls/pem.js';
import type { AdminResponse, AdminServer } from '../server.js';

/** One certificate of the chain. */
export interface ChainEntry {
  readonly subject: string;
  readonly issuer: string;
  readonly uriSANs: readonly string[];
  /** Hex, as openssl prints it. */
  readonly serial: string;
  /** ISO 8601. */
  readonly notAfter: string;
}

/** The /certs document. */
export interface CertsSnapshot {
  readonly source: string;
  readonly identity: string;
  readonly generation: number;
  readonly notBefore: string;
  readonly notAfter: string;
  /** Seconds until the leaf expires, rounded down; negative once it has. */
  readonly expiresInSeconds: number;
  readonly chain: readonly ChainEntry[];
  readonly trustBundle: readonly { readonly subject: string; readonly notAfter: string }[];
}


/**
 * Builds the /certs document from the source's current material, or undefined when it holds none yet. Pure over
 * its inputs: `now` is ms since the epoch.
 */
export function certsSnapshot(source: CertSource, now: number): CertsSnapshot | undefined {
  const m = source.current();
  if (m === undefined) return undefined;
  const chain = splitPemCertificates(m.certChainPem).map((pem) => new X509Certificate(pem));
  const bundle = splitPemCertificates(m.trustBundlePem).map((pem) => new X509Certificate(pem));
  return {
    source: source.kind,
    identity: m.identity,
    generation: m.generation,
    notBefore: m.notBefore.toISOString(),
    notAfter: m.notAfter.toISOString(),
    expiresInSeconds: Math.floor((m.notAfter.getTime() - now) / 1000),
    chain: chain.map((c) => ({
      subject: oneLineName(c.subject),
      issuer: oneLineName(c.issuer),
      uriSANs: uriSans(c.subjectAltName),
      serial: c.serialNumber,
      notAfter: new Date(c.validTo).toISOString(),
    })),
    trustBundle: bundle.map((c) => ({ subject: oneLineName(c.subject), notAfter: new Date(c.validTo).toISOString() })),
  };
}

/** The handler: 200 with {@link CertsSnapshot}, or 503 while the source has no certificate yet. */
export function certsRoute(source: CertSource, now: () => number = Date.now): () => AdminResponse {
  return () => {
    const snapshot = certsSnapshot(source, now());
    return snapshot === undefined
      ? { status: 503, body: { source: source.kind, error: 'no certificate loaded yet' } }
      : { status: 200, body: snapshot };
  };
}

/** Registers GET /certs on the admin server. */
export function addCertsRoute(admin: AdminServer, source: CertSource, now?: () => number): void {
  admin.route('GET', '/certs', certsRoute(source, now));
}
