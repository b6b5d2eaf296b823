// SPDX-License-Identifier: Apache-2.0
// Tables for src/tls/identity.ts: SPIFFE ID validation (SPIFFE-ID.md §2), identity derivation, URI SAN
// extraction (X509-SVID.md §2) and pattern matching.
import { describe, expect, it } from 'vitest';
import {
  deriveSpiffeId,
  parseSpiffeId,
  spiffeIdFromCertificate,
  uriSans,
} from '../../../src/spiffe/identity.js';

describe('parseSpiffeId', () => {
  it.each([
    ['spiffe://meshlet.local/ns/shop/sa/billing', 'meshlet.local', ['ns', 'shop', 'sa', 'billing']],
    ['spiffe://a-b_c.9/svc/Orders.v2', 'a-b_c.9', ['svc', 'Orders.v2']],
    ['spiffe://td/x', 'td', ['x']],
  ])('accepts %s', (id, td, segments) => {
    const parsed = parseSpiffeId(id);
    expect(parsed.trustDomain).toBe(td);
    expect(parsed.segments).toEqual(segments);
    expect(parsed.path).toBe(`/${segments.join('/')}`);
  });

  it.each([
    ['', 'empty'],
    ['https://td/x', 'scheme must be "spiffe://"'],
    ['SPIFFE://td/x', 'lower-case "spiffe"'],
    ['spiffe:///x', 'trust domain is empty'],
    ['spiffe://Example.org/x', 'trust domain must be lower-case'],
    ['spiffe://td:8443/x', 'port is not allowed'],
    ['spiffe://user@td/x', 'userinfo'],
    ['spiffe://td/x?y=1', 'query'],
    ['spiffe://td/x#frag', 'fragment'],
    ['spiffe://td/a%20b', 'percent-encoded'],
    ['spiffe://td/a//b', 'empty path segment'],
    ['spiffe://td/a/', 'trailing "/"'],
    ['spiffe://td/a/./b', 'segment "." is not allowed'],
    ['spiffe://td/a/..', 'segment ".." is not allowed'],
    ['spiffe://td/a b', 'character " " is not allowed in a path'],
    ['spiffe://td', 'needs a path'],
    [`spiffe://td/${'a'.repeat(2040)}`, 'longer than 2048 bytes'],
    [`spiffe://${'a'.repeat(256)}/x`, 'trust domain longer than 255 bytes'],
  ])('rejects %j: %s', (id, why) => {
    expect(() => parseSpiffeId(id)).toThrow(why);
  });

  it('accepts exactly 2048 bytes and a bare trust domain ID when asked', () => {
    const id = `spiffe://td/${'a'.repeat(2048 - 'spiffe://td/'.length)}`;
    expect(Buffer.byteLength(id)).toBe(2048);
    expect(parseSpiffeId(id).segments).toHaveLength(1);
    expect(parseSpiffeId('spiffe://td', { requirePath: false }).path).toBe('');
  });
});

describe('deriveSpiffeId', () => {
  const td = 'mesh.test';
  it.each([
    ['identity wins over everything', { identity: 'spiffe://other/x', serviceName: 's', kubernetes: { namespace: 'n', serviceAccount: 'a' } }, {}, 'spiffe://other/x'],
    ['Kubernetes form from config', { kubernetes: { namespace: 'shop', serviceAccount: 'billing' }, serviceName: 'b' }, {}, `spiffe://${td}/ns/shop/sa/billing`],
    ['Kubernetes form from env alone', { serviceName: 'b' }, { MESHLET_POD_NAMESPACE: 'prod', MESHLET_SERVICE_ACCOUNT: 'web' }, `spiffe://${td}/ns/prod/sa/web`],
    ['env overrides config field by field', { kubernetes: { namespace: 'shop', serviceAccount: 'billing' } }, { MESHLET_POD_NAMESPACE: 'prod', MESHLET_SERVICE_ACCOUNT: '' }, `spiffe://${td}/ns/prod/sa/billing`],
    ['half of the Kubernetes pair falls back to the service', { serviceName: 'orders' }, { MESHLET_POD_NAMESPACE: 'prod' }, `spiffe://${td}/svc/orders`],
    ['service form', { serviceName: 'orders' }, {}, `spiffe://${td}/svc/orders`],
  ])('%s', (_name, inputs, env, expected) => {
    expect(deriveSpiffeId({ trustDomain: td, ...inputs, env }).id).toBe(expected);
  });

  it('names what is missing when nothing applies', () => {
    expect(() => deriveSpiffeId({ trustDomain: td, env: { MESHLET_POD_NAMESPACE: 'prod' } })).toThrow(
      'a namespace but no service account',
    );
    expect(() => deriveSpiffeId({ trustDomain: td })).toThrow('no service.name');
  });

  it('rejects a derived ID that is not valid', () => {
    expect(() => deriveSpiffeId({ trustDomain: td, serviceName: 'has space' })).toThrow('not allowed in a path');
  });
});

describe('URI SAN extraction', () => {
  it.each([
    ['URI:spiffe://td/a', ['spiffe://td/a']],
    ['DNS:x.example, URI:spiffe://td/a, IP Address:127.0.0.1', ['spiffe://td/a']],
    ['DNS:x, URI:"spiffe://td/a,b", URI:https://x/', ['spiffe://td/a,b', 'https://x/']],
    ['DNS:only', []],
    [undefined, []],
  ])('uriSans(%j)', (san, expected) => {
    expect(uriSans(san)).toEqual(expected);
  });

  it.each([
    [undefined, 'no subjectAltName'],
    ['DNS:x.example', 'no URI SAN'],
    ['URI:spiffe://td/a, URI:spiffe://td/b', '2 URI SANs'],
    ['URI:https://td/a', 'not a spiffe:// URI'],
    ['URI:spiffe://TD/a', 'must be lower-case'],
  ])('rejects a certificate with SAN %j: %s', (san, why) => {
    expect(() => spiffeIdFromCertificate({ subjectAltName: san })).toThrow(why);
  });

  it('returns the one SPIFFE ID next to DNS SANs', () => {
    expect(spiffeIdFromCertificate({ subjectAltName: 'DNS:a, URI:spiffe://td/ns/n/sa/s' }).id).toBe('spiffe://td/ns/n/sa/s');
  });
});
