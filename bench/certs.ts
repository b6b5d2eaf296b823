// SPDX-License-Identifier: Apache-2.0
// Throwaway mTLS material for the mTLS suite, made with the openssl CLI in the work dir: an ECDSA P-256 root CA and
// two leaves signed by it (server and client), each with a SPIFFE URI SAN. openssl rather than meshlet's own CA
// code, so the bench does not trust the code it measures to make its inputs.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** SPIFFE trust domain of the bench's certificates. */
export const BENCH_TRUST_DOMAIN = 'meshlet.local';
/** The server leaf's SPIFFE ID (sidecar B, the TLS listeners); sidecar A checks it with `--upstream-spiffe-id`. */
export const SERVER_SPIFFE_ID = `spiffe://${BENCH_TRUST_DOMAIN}/svc/bench`;
/** The client leaf's SPIFFE ID (sidecar A, nginx A, the handshake load generator). */
export const CLIENT_SPIFFE_ID = `spiffe://${BENCH_TRUST_DOMAIN}/svc/bench-client`;
/** DNS SAN of the server leaf, for clients that check names (nginx's grpc_ssl_name, node's servername). */
export const SERVER_DNS_NAME = 'localhost';

/** Paths of the PEM files the suite uses, all in one directory. */
export interface BenchCerts {
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** What makes the material: extension files to write, then openssl invocations in order. Pure. */
export interface CertPlan {
  files: Record<string, string>;
  commands: string[][];
  certs: BenchCerts;
}

/**
 * The openssl steps for the bench's CA and leaves in `dir`. Keys are PKCS#8 EC keys on P-256 (prime256v1);
 * certificates are signed with SHA-256 and valid for 2 days. Leaves are end-entity certificates for both
 * serverAuth and clientAuth, with the SPIFFE ID as URI SAN; the server leaf also names `localhost` and 127.0.0.1.
 */
export function certPlan(dir: string): CertPlan {
  const f = (name: string): string => path.join(dir, name);
  const leafExt = (spiffeId: string, extraSans: string[]): string =>
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth,clientAuth',
      `subjectAltName=${[`URI:${spiffeId}`, ...extraSans].join(',')}`,
      '',
    ].join('\n');
  const key = (name: string): string[] => ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(name)];
  const leaf = (name: string, serial: string): string[][] => [
    key(`${name}.key`),
    ['req', '-new', '-key', f(`${name}.key`), '-subj', `/CN=bench-${name}`, '-out', f(`${name}.csr`)],
    [
      'x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-set_serial', serial,
      '-days', '2', '-sha256', '-extfile', f(`${name}.ext`), '-out', f(`${name}.crt`),
    ],
  ];
  return {
    files: {
      [f('server.ext')]: leafExt(SERVER_SPIFFE_ID, [`DNS:${SERVER_DNS_NAME}`, 'IP:127.0.0.1']),
      [f('client.ext')]: leafExt(CLIENT_SPIFFE_ID, []),
    },
    commands: [
      key('ca.key'),
      [
        'req', '-x509', '-new', '-key', f('ca.key'), '-sha256', '-days', '2', '-subj', '/CN=meshlet bench CA',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', f('ca.crt'),
      ],
      ...leaf('server', '2'),
      ...leaf('client', '3'),
      ['verify', '-CAfile', f('ca.crt'), f('server.crt'), f('client.crt')],
    ],
    certs: {
      caCert: f('ca.crt'),
      serverCert: f('server.crt'),
      serverKey: f('server.key'),
      clientCert: f('client.crt'),
      clientKey: f('client.key'),
    },
  };
}

/** Runs `certPlan(dir)` with `opensslBin`. Throws with openssl's output when a step fails. */
export function makeBenchCerts(opensslBin: string, dir: string): BenchCerts {
  const plan = certPlan(dir);
  for (const [file, text] of Object.entries(plan.files)) writeFileSync(file, text);
  for (const args of plan.commands) {
    const r = spawnSync(opensslBin, args, { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}${r.stdout}`);
  }
  return plan.certs;
}

/** Reads a PEM file (for node:tls options, which take contents rather than paths). */
export function readPem(file: string): string {
  return readFileSync(file, 'utf8');
}
