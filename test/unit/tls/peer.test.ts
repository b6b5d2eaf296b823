// SPDX-License-Identifier: Apache-2.0
// The SPIFFE ID of a peer certificate (exactly one URI:spiffe:// SAN) and SPIFFE ID pattern matching.

import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseSubjectAltName, spiffeIdMatchesAny, spiffeIdOf } from '../../../src/tls/peer.js';
import { usePki } from '../../helpers/test-pki.js';

const pki = usePki();

describe('spiffeIdOf', () => {
  it('reads the one URI:spiffe:// SAN of a real certificate, next to DNS and IP SANs', () => {
    const leaf = pki.leaf(pki.ca('root'), 'billing', { extraSans: ['DNS:billing.local', 'IP:127.0.0.1'] });
    expect(spiffeIdOf(new X509Certificate(leaf.certPem))).toEqual({ ok: true, id: 'spiffe://meshlet.local/svc/billing' });
  });

  it.each([
    ['no certificate', undefined, 'no certificate'],
    ['no SAN', { subjectaltname: undefined }, 'the certificate has no subjectAltName'],
    ['DNS only', { subjectaltname: 'DNS:a.local, IP Address:10.0.0.1' }, 'the certificate has no URI:spiffe:// SAN'],
    ['a non-SPIFFE URI', { subjectaltname: 'URI:https://example.com/x' }, 'the certificate has no URI:spiffe:// SAN'],
    ['two SPIFFE IDs', { subjectaltname: 'URI:spiffe://a/x, URI:spiffe://a/y' }, 'the certificate has 2 SPIFFE IDs (exactly one allowed)'],
  ])('refuses %s', (_name, cert, reason) => {
    expect(spiffeIdOf(cert as never)).toEqual({ ok: false, reason });
  });

  it('decodes JSON-quoted SAN values (Node 17+ quotes values holding a comma)', () => {
    expect(parseSubjectAltName('DNS:a, URI:"spiffe://td/a,b", DNS:c')).toEqual([
      { type: 'DNS', value: 'a' },
      { type: 'URI', value: 'spiffe://td/a,b' },
      { type: 'DNS', value: 'c' },
    ]);
  });
});

describe('spiffeIdMatchesAny', () => {
  it.each([
    ['spiffe://meshlet.local/svc/echo', 'spiffe://meshlet.local/svc/echo', true],
    ['spiffe://meshlet.local/svc/echo', 'spiffe://meshlet.local/svc/other', false],
    ['spiffe://meshlet.local/svc/echo', 'spiffe://meshlet.local/svc/*', true],
    ['spiffe://meshlet.local/svc/echo/x', 'spiffe://meshlet.local/svc/*', false],
    ['spiffe://meshlet.local/ns/prod/sa/api', 'spiffe://meshlet.local/ns/*/sa/api', true],
    ['spiffe://meshlet.local/ns/prod/sa/api', 'spiffe://meshlet.local/ns/**', true],
    ['spiffe://meshlet.local/ns', 'spiffe://meshlet.local/ns/**', false],
    ['spiffe://other.td/svc/echo', 'spiffe://meshlet.local/svc/echo', false],
    ['spiffe://other.td/svc/echo', 'spiffe://*/svc/echo', true],
    ['spiffe://meshlet.local/svc/echo', 'spiffe://meshlet.local/svc/echo/extra', false],
    ['https://meshlet.local/svc/echo', 'spiffe://meshlet.local/svc/echo', false],
  ])('%s vs %s → %s', (id, pattern, want) => {
    expect(spiffeIdMatchesAny(id, [pattern])).toBe(want);
    expect(spiffeIdMatchesAny(id, ['spiffe://nothing/here', pattern])).toBe(want);
  });
});
