// SPDX-License-Identifier: Apache-2.0
// Throwaway PKI for TLS tests, made with the `openssl` CLI in a temp dir: root CAs and P-256 leaves with a SPIFFE
// URI SAN (spiffe://meshlet.local/svc/NAME), optionally expired or not yet valid. One PKI per test file, removed
// after the file (usePki registers the afterAll hook).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

export interface TestCa {
  readonly name: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
}

export interface TestLeaf {
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** The SPIFFE ID in its URI SAN, when it has one. */
  readonly spiffeId: string | undefined;
}

export interface LeafOptions {
  /** SPIFFE ID for the URI SAN; default spiffe://meshlet.local/svc/NAME; null for none. */
  readonly spiffeId?: string | null;
  /** Extra SANs, e.g. `DNS:localhost`, `IP:127.0.0.1`. */
  readonly extraSans?: readonly string[];
  /** `expired` (valid 2001-2002) or `future` (valid from 2099); default valid from now for 1 day. */
  readonly validity?: 'valid' | 'expired' | 'future';
}

export interface TestPki {
  readonly dir: string;
  ca(name: string): TestCa;
  leaf(ca: TestCa, name: string, options?: LeafOptions): TestLeaf;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Creates a PKI for the calling test file, removed in afterAll. CAs and leaves are cached by name. */
export function usePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-pki-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cas = new Map<string, TestCa>();
  const leaves = new Map<string, TestLeaf>();
  let serial = 1;
  return {
    dir,
    ca(name) {
      const cached = cas.get(name);
      if (cached) return cached;
      const keyFile = join(dir, `${name}.key`);
      const certFile = join(dir, `${name}.crt`);
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile], dir);
      openssl(['req', '-x509', '-new', '-key', keyFile, '-subj', `/CN=${name}`, '-days', '3650', '-sha256', '-out', certFile,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
      const ca = { name, certFile, keyFile, certPem: readFileSync(certFile, 'utf8') };
      cas.set(name, ca);
      return ca;
    },
    leaf(ca, name, options = {}) {
      const key = `${ca.name}/${name}/${JSON.stringify(options)}`;
      const cached = leaves.get(key);
      if (cached) return cached;
      const base = join(dir, `${ca.name}-${name}-${serial}`);
      const keyFile = `${base}.key`;
      const certFile = `${base}.crt`;
      const spiffeId = options.spiffeId === null ? undefined : (options.spiffeId ?? `spiffe://meshlet.local/svc/${name}`);
      const sans = [...(spiffeId ? [`URI:${spiffeId}`] : []), ...(options.extraSans ?? [])];
      const ext = [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=serverAuth,clientAuth',
        ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
      ];
      writeFileSync(`${base}.ext`, `${ext.join('\n')}\n`);
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${base}.ec`], dir);
      openssl(['pkcs8', '-topk8', '-nocrypt', '-in', `${base}.ec`, '-out', keyFile], dir);
      openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${name}`, '-out', `${base}.csr`], dir);
      const validity = options.validity ?? 'valid';
      if (validity === 'valid') {
        openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', String(serial),
          '-days', '1', '-sha256', '-extfile', `${base}.ext`, '-out', certFile], dir);
      } else {
        // `openssl x509` (3.0) cannot backdate; `openssl ca` takes explicit start and end dates.
        const cadir = `${base}-ca`;
        execFileSync('mkdir', ['-p', cadir]);
        writeFileSync(join(cadir, 'index.txt'), '');
        writeFileSync(join(cadir, 'serial'), `${(0x1000 + serial).toString(16)}\n`);
        writeFileSync(join(cadir, 'ca.cnf'), [
          '[ca]', 'default_ca=d', '[d]', `dir=${cadir}`, 'database=$dir/index.txt', 'serial=$dir/serial',
          'new_certs_dir=$dir', 'default_md=sha256', 'policy=p', 'unique_subject=no', 'copy_extensions=none',
          '[p]', 'commonName=supplied', '',
        ].join('\n'));
        const [start, end] = validity === 'expired' ? ['20010101000000Z', '20020101000000Z'] : ['20990101000000Z', '20991231000000Z'];
        openssl(['ca', '-batch', '-config', join(cadir, 'ca.cnf'), '-cert', ca.certFile, '-keyfile', ca.keyFile,
          '-startdate', start, '-enddate', end, '-extfile', `${base}.ext`, '-in', `${base}.csr`, '-out', certFile, '-notext'], dir);
      }
      serial++;
      const leaf = { certFile, keyFile, certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8'), spiffeId };
      leaves.set(key, leaf);
      return leaf;
    },
  };
}
