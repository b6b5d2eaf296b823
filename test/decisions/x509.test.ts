// SPDX-License-Identifier: Apache-2.0
// Evidence for docs/decisions.md §13 "Keys from WebCrypto, certificates built by @peculiar/x509, checked by
// node:crypto" (issue 12). Pins the facts the decision rests on; if one fails after an upgrade, re-read §13.
// node-forge is not a dependency, so its numbers are cited in §13, not re-measured here.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

describe('@peculiar/x509 2.2.0 on Node WebCrypto', () => {
  it('generates P-256 keys natively, far faster than RSA-2048', async () => {
    const time = async (params: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams): Promise<number> => {
      const t0 = performance.now();
      await webcrypto.subtle.generateKey(params, true, ['sign', 'verify']);
      return performance.now() - t0;
    };
    await time(P256); // warm-up
    const ec = Math.min(await time(P256), await time(P256), await time(P256));
    const rsa = await time({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' });
    // Measured 0.1 ms vs 192 ms; the bounds leave room for a loaded machine.
    expect(ec).toBeLessThan(50);
    expect(rsa).toBeGreaterThan(ec);
  });

  it('issues a P-256 leaf with a SPIFFE URI SAN that node:crypto parses and verifies', async () => {
    const caKeys = await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify']);
    const leafKeys = await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify']);
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      name: 'CN=decision test CA',
      keys: caKeys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    const t0 = performance.now();
    const leaf = await x509.X509CertificateGenerator.create({
      subject: '',
      issuer: ca.subjectName,
      publicKey: leafKeys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://td/svc/a' }], true)],
    });
    const issueMs = performance.now() - t0;
    const parsed = new X509Certificate(leaf.toString('pem'));
    const caParsed = new X509Certificate(ca.toString('pem'));
    expect(parsed.subjectAltName).toBe('URI:spiffe://td/svc/a');
    expect(parsed.verify(caParsed.publicKey)).toBe(true);
    expect(parsed.checkIssued(caParsed)).toBe(true);
    expect(parsed.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(issueMs).toBeLessThan(500);
  });
});
