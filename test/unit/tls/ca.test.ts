// SPDX-License-Identifier: Apache-2.0
// The built-in CA (src/tls/ca.ts) and `meshlet ca` (src/tls/ca-cli.ts): certificates checked by openssl and by
// node:crypto, key file modes, errors that name the file, and a real mutual TLS 1.3 handshake with issued certs.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initCa, issueLeaf, loadCa, writeLeaf } from '../../../src/tls/ca.js';
import { parseDurationMs, runCaCommand } from '../../../src/tls/ca-cli.js';
import { spiffeIdFromCertificate } from '../../../src/spiffe/identity.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshlet-ca-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const openssl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const mode = (file: string): number => statSync(file).mode & 0o777;

function capture(): { io: { stdout: { write(t: string): boolean }; stderr: { write(t: string): boolean } }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (t) => ((out += t), true) }, stderr: { write: (t) => ((err += t), true) } },
    out: () => out,
    err: () => err,
  };
}

describe('built-in CA', () => {
  it('issues a leaf that openssl verifies through the intermediate, with the SVID profile', async () => {
    const ca = await initCa({ dir: join(dir, 'ca'), trustDomain: 'mesh.test', intermediate: true });
    const leaf = await issueLeaf(ca, { spiffeId: 'spiffe://mesh.test/ns/shop/sa/web', dnsNames: ['web.shop'] });
    const files = await writeLeaf(join(dir, 'web'), leaf);
    const verify = openssl('verify', '-CAfile', join(dir, 'ca/root.crt'), '-untrusted', join(dir, 'ca/intermediate.crt'), files.certFile);
    expect(verify.trim()).toBe(`${files.certFile}: OK`);

    const text = openssl('x509', '-in', files.certFile, '-noout', '-text');
    expect(text).toContain('URI:spiffe://mesh.test/ns/shop/sa/web, DNS:web.shop');
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(text).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
    expect(text).toContain('Subject Key Identifier');
    expect(text).toContain('Authority Key Identifier');

    const root = openssl('x509', '-in', join(dir, 'ca/root.crt'), '-noout', '-text');
    expect(root).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(root).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(root).toContain('URI:spiffe://mesh.test');
    const inter = openssl('x509', '-in', join(dir, 'ca/intermediate.crt'), '-noout', '-text');
    expect(inter).toMatch(/CA:TRUE, pathlen:0/);

    // Node agrees: the chain file is leaf then intermediate (no root), and each link verifies.
    const chain = readFileSync(files.certFile, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    expect(chain).toHaveLength(2);
    const [leafCert, interCert] = chain.map((pem) => new X509Certificate(pem));
    const rootCert = new X509Certificate(readFileSync(join(dir, 'ca/root.crt')));
    expect(leafCert!.verify(interCert!.publicKey)).toBe(true);
    expect(interCert!.verify(rootCert.publicKey)).toBe(true);
    expect(leafCert!.verify(rootCert.publicKey)).toBe(false);
    expect(spiffeIdFromCertificate(leafCert!).id).toBe('spiffe://mesh.test/ns/shop/sa/web');
    expect(leafCert!.ca).toBe(false);
    expect(leafCert!.serialNumber).toMatch(/^[0-9A-F]{30,34}$/);

    for (const key of ['ca/root.key', 'ca/intermediate.key', 'web.key']) expect(mode(join(dir, key))).toBe(0o600);
  });

  it('sets notBefore a minute back, notAfter at the TTL, capped by the CA', async () => {
    const t0 = Date.UTC(2030, 0, 1);
    const ca = await initCa({ dir, trustDomain: 'td', ttlMs: 2 * 3_600_000, now: () => t0 });
    const leaf = await issueLeaf(ca, { spiffeId: 'spiffe://td/a', ttlMs: 3_600_000, now: () => t0 });
    expect(leaf.notBefore.getTime()).toBe(t0 - 60_000);
    expect(leaf.notAfter.getTime()).toBe(t0 + 3_600_000);
    const capped = await issueLeaf(ca, { spiffeId: 'spiffe://td/a', ttlMs: 10 * 3_600_000, now: () => t0 });
    expect(capped.notAfter.getTime()).toBe(t0 + 2 * 3_600_000);
  });

  it('issues RSA leaves with keyEncipherment and random distinct serials', async () => {
    const ca = await initCa({ dir, trustDomain: 'td', keyType: 'rsa-2048' });
    const a = await issueLeaf(ca, { spiffeId: 'spiffe://td/a', keyType: 'rsa-2048' });
    const b = await issueLeaf(ca, { spiffeId: 'spiffe://td/a' });
    writeFileSync(join(dir, 'a.crt'), a.certPem);
    expect(openssl('x509', '-in', join(dir, 'a.crt'), '-noout', '-text')).toMatch(/Digital Signature, Key Encipherment/);
    expect(openssl('verify', '-CAfile', join(dir, 'root.crt'), join(dir, 'a.crt')).trim()).toMatch(/OK$/);
    expect(a.serial).not.toBe(b.serial);
  });

  it.each([
    ['a missing CA directory', async (d: string) => loadCa(join(d, 'nope')), /nope: CA directory is missing/],
    ['a missing key', async (d: string) => (rmSync(join(d, 'root.key')), loadCa(d)), /root\.key: missing/],
    ['an unreadable key', async (d: string) => (writeFileSync(join(d, 'root.key'), 'garbage'), loadCa(d)), /root\.key: no PEM PRIVATE KEY/],
    [
      'a key that does not match the certificate',
      async (d: string) => {
        await initCa({ dir: join(d, 'other'), trustDomain: 'td' });
        copyFileSync(join(d, 'other/root.key'), join(d, 'root.key'));
        return loadCa(d);
      },
      /root\.key: private key does not match the certificate in .*root\.crt/,
    ],
    [
      'a SPIFFE ID of another trust domain',
      async (d: string) => issueLeaf(await loadCa(d), { spiffeId: 'spiffe://elsewhere/a' }),
      /in trust domain "elsewhere", but this CA is for "td"/,
    ],
    ['overwriting an existing CA', async (d: string) => initCa({ dir: d, trustDomain: 'td' }), /root\.crt: already exists/],
  ])('rejects %s, naming the file and the reason', async (_what, act, message) => {
    await initCa({ dir, trustDomain: 'td' });
    await expect(act(dir)).rejects.toThrow(message);
  });

  it('completes a mutual TLS 1.3 handshake with issued certificates and reads the peer SPIFFE ID', async () => {
    const ca = await initCa({ dir, trustDomain: 'mesh.test', intermediate: true });
    const server = await issueLeaf(ca, { spiffeId: 'spiffe://mesh.test/svc/server' });
    const client = await issueLeaf(ca, { spiffeId: 'spiffe://mesh.test/svc/client' });
    const seenByServer: string[] = [];
    const srv = createServer(
      { cert: server.chainPem, key: server.keyPem, ca: server.trustBundlePem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' },
      (socket: TLSSocket) => {
        seenByServer.push(spiffeIdFromCertificate(socket.getPeerX509Certificate()!).id);
        socket.end('hi');
      },
    );
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    try {
      const socket = connect({
        host: '127.0.0.1',
        port: (srv.address() as AddressInfo).port,
        cert: client.chainPem,
        key: client.keyPem,
        ca: client.trustBundlePem,
        // SPIFFE peers are verified by URI SAN, not host name (X509-SVID.md §5.2).
        checkServerIdentity: () => undefined,
      });
      await once(socket, 'secureConnect');
      expect(socket.authorized).toBe(true);
      expect(socket.getProtocol()).toBe('TLSv1.3');
      expect(spiffeIdFromCertificate(socket.getPeerX509Certificate()!).id).toBe('spiffe://mesh.test/svc/server');
      socket.resume();
      await once(socket, 'end');
      socket.destroy();
      expect(seenByServer).toEqual(['spiffe://mesh.test/svc/client']);
    } finally {
      srv.close();
    }
  });
});

describe('meshlet ca (CLI)', () => {
  it('init then issue writes the files and never prints a key', async () => {
    const a = capture();
    expect(await runCaCommand(['init', '--dir', join(dir, 'ca'), '--trust-domain', 'mesh.test', '--intermediate', '--ttl', '8760h'], a.io)).toBe(0);
    expect(a.out()).toContain('created CA for spiffe://mesh.test');
    const b = capture();
    const code = await runCaCommand(
      ['issue', '--dir', join(dir, 'ca'), '--spiffe-id', 'spiffe://mesh.test/svc/a', '--out', join(dir, 'a'), '--dns', 'a.local', '--dns', 'b.local', '--ttl', '1h'],
      b.io,
    );
    expect(b.err()).toBe('');
    expect(code).toBe(0);
    expect(b.out()).not.toContain('PRIVATE KEY');
    expect(mode(join(dir, 'a.key'))).toBe(0o600);
    const text = openssl('x509', '-in', join(dir, 'a.crt'), '-noout', '-text');
    expect(text).toContain('URI:spiffe://mesh.test/svc/a, DNS:a.local, DNS:b.local');
  });

  it.each([
    [['init', '--trust-domain', 'td'], 2, '--dir DIR is required'],
    [['init', '--dir', 'X', '--trust-domain', 'Bad'], 1, 'trust domain must be lower-case'],
    [['init', '--dir', 'X', '--trust-domain', 'td', '--key-type', 'dsa'], 2, '--key-type must be one of'],
    [['init', '--dir', 'X', '--trust-domain', 'td', '--ttl', 'forever'], 2, '--ttl "forever"'],
    [['issue', '--dir', 'X', '--out', 'p'], 2, '--spiffe-id ID is required'],
    [['issue', '--dir', 'MISSING', '--spiffe-id', 'spiffe://td/a', '--out', 'p'], 1, 'MISSING: CA directory is missing'],
    [['rotate', '--dir', 'X'], 2, 'unknown subcommand "rotate"'],
    [['init', '--dir', 'X', '--bogus'], 2, "Unknown option '--bogus'"],
  ])('%j exits %i with %j', async (args, code, message) => {
    const c = capture();
    const resolved = args.map((a) => (a === 'X' || a === 'MISSING' ? join(dir, a) : a));
    expect(await runCaCommand(resolved, c.io)).toBe(code);
    expect(c.err()).toContain(message);
  });

  it.each([
    ['24h', 86_400_000],
    ['8760h', 31_536_000_000],
    ['1h30m', 5_400_000],
    ['90s', 90_000],
    ['7d', 604_800_000],
    ['0h', undefined],
    ['24', undefined],
    ['h', undefined],
  ])('parseDurationMs(%j) = %s', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });
});
