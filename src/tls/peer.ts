// SPDX-License-Identifier: Apache-2.0
// The SPIFFE ID of a TLS peer, read from its certificate's URI SANs, and the matching of an ID against the
// patterns an upstream is expected to present. Pure: used by the inbound listener and the upstream connector.

import type { PeerCertificate } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { matchIdentity, parseIdentityPattern } from '../spiffe/pattern.js';

/** The outcome of reading a SPIFFE ID: the ID, or why there is none (for logs). */
export type SpiffeIdResult = { readonly ok: true; readonly id: string } | { readonly ok: false; readonly reason: string };

/**
 * Splits Node's `subjectaltname` string (`DNS:a, URI:spiffe://x/y, IP Address:1.2.3.4`). Since Node 17 a value
 * holding a `,` or a quote is written as a JSON string (`URI:"spiffe://x/a,b"`); such values are decoded.
 */
export function parseSubjectAltName(san: string): Array<{ readonly type: string; readonly value: string }> {
  const out: Array<{ type: string; value: string }> = [];
  let i = 0;
  while (i < san.length) {
    const colon = san.indexOf(':', i);
    if (colon < 0) break;
    const type = san.slice(i, colon).trim();
    let j = colon + 1;
    let value: string;
    if (san[j] === '"') {
      // A JSON string: find its closing quote (skipping escapes).
      let k = j + 1;
      while (k < san.length && san[k] !== '"') k += san[k] === '\\' ? 2 : 1;
      value = JSON.parse(san.slice(j, k + 1)) as string;
      j = k + 1;
    } else {
      const comma = san.indexOf(', ', j);
      const end = comma < 0 ? san.length : comma;
      value = san.slice(j, end);
      j = end;
    }
    out.push({ type, value });
    const next = san.indexOf(', ', j);
    if (next < 0) break;
    i = next + 2;
  }
  return out;
}

/**
 * The SPIFFE ID of a certificate: its one `URI:spiffe://` SAN (X.509-SVID, SPIFFE spec §5: exactly one URI SAN
 * that is a SPIFFE ID). None, or more than one, is a failure with a reason.
 */
export function spiffeIdOf(cert: PeerCertificate | X509Certificate | undefined): SpiffeIdResult {
  if (cert === undefined) return { ok: false, reason: 'no certificate' };
  const san = cert instanceof X509Certificate ? cert.subjectAltName : cert.subjectaltname;
  if (san === undefined || san === '') return { ok: false, reason: 'the certificate has no subjectAltName' };
  const ids = parseSubjectAltName(san).filter((e) => e.type === 'URI' && e.value.startsWith('spiffe://'));
  if (ids.length === 0) return { ok: false, reason: 'the certificate has no URI:spiffe:// SAN' };
  if (ids.length > 1) return { ok: false, reason: `the certificate has ${ids.length} SPIFFE IDs (exactly one allowed)` };
  return { ok: true, id: (ids[0] as { value: string }).value };
}

/**
 * True when `id` matches any of `patterns` (see src/spiffe/pattern.ts; a pattern that does not parse matches nothing,
 * config validation reports it). Called once per handshake, not per call.
 */
export function spiffeIdMatchesAny(id: string, patterns: readonly string[]): boolean {
  for (const text of patterns) {
    const p = parseIdentityPattern(text);
    if (typeof p !== 'string' && matchIdentity(p, id)) return true;
  }
  return false;
}
