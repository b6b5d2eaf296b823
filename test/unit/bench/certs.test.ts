// SPDX-License-Identifier: Apache-2.0
// bench/certs.ts: the mTLS suite's material is ECDSA P-256, chains to its CA, and carries the SPIFFE URI SANs.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLIENT_SPIFFE_ID, certPlan, makeBenchCerts, SERVER_SPIFFE_ID } from '../../../bench/certs.js';

describe('certPlan', () => {
  const plan = certPlan('/w');

  it('makes every key on P-256 and signs with SHA-256', () => {
    const keys = plan.commands.filter((c) => c[0] === 'genpkey');
    expect(keys.map((k) => k.at(-1))).toEqual(['/w/ca.key', '/w/server.key', '/w/client.key']);
    for (const k of keys) expect(k).toContain('ec_paramgen_curve:P-256');
    for (const c of plan.commands.filter((c) => c[0] === 'x509' || c.includes('-x509'))) expect(c).toContain('-sha256');
  });

  it('gives the server leaf its SPIFFE ID, localhost and 127.0.0.1, and the client leaf its own SPIFFE ID', () => {
    expect(plan.files['/w/server.ext']).toContain(`subjectAltName=URI:${SERVER_SPIFFE_ID},DNS:localhost,IP:127.0.0.1`);
    expect(plan.files['/w/client.ext']).toContain(`subjectAltName=URI:${CLIENT_SPIFFE_ID}\n`);
    expect(plan.files['/w/server.ext']).toContain('CA:FALSE');
  });

  it('ends by verifying both leaves against the CA', () => {
    expect(plan.commands.at(-1)).toEqual(['verify', '-CAfile', '/w/ca.crt', '/w/server.crt', '/w/client.crt']);
  });
});

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

describe.runIf(hasOpenssl)('makeBenchCerts (real openssl)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-certs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes P-256 leaves signed by the CA with the SPIFFE URI SANs', () => {
    const certs = makeBenchCerts('openssl', dir);
    const ca = new X509Certificate(readFileSync(certs.caCert));
    const server = new X509Certificate(readFileSync(certs.serverCert));
    const client = new X509Certificate(readFileSync(certs.clientCert));
    expect(ca.ca).toBe(true);
    expect(server.verify(ca.publicKey) && client.verify(ca.publicKey)).toBe(true);
    expect(server.subjectAltName).toContain(`URI:${SERVER_SPIFFE_ID}`);
    expect(client.subjectAltName).toContain(`URI:${CLIENT_SPIFFE_ID}`);
    expect(server.checkHost('localhost')).toBe('localhost');
    const key = createPrivateKey(readFileSync(certs.serverKey));
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });
});
