// SPDX-License-Identifier: Apache-2.0
// PEM and key plumbing shared by the CA and the certificate sources: split PEM bundles, parse certificates and
// private keys with node:crypto, and the error type that names the file and the reason. No key material is ever put
// into an error message.

import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';

/** A certificate or key file that cannot be used. `message` is `<file>: <reason>`; the key itself never appears. */
export class TlsFileError extends Error {
  readonly file: string;
  readonly reason: string;
  constructor(file: string, reason: string, options?: { cause?: unknown }) {
    super(`${file}: ${reason}`, options);
    this.name = 'TlsFileError';
    this.file = file;
    this.reason = reason;
  }
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The `CERTIFICATE` blocks of a PEM text, in order, each ending in a newline. Other blocks are ignored. */
export function splitPemCertificates(text: string): string[] {
  return (text.match(CERT_BLOCK) ?? []).map((block) => `${block}\n`);
}

/**
 * Parses every certificate of a PEM text. Throws {@link TlsFileError} naming `file` when there is none or one
 * does not parse (which one, counted from 1).
 */
export function parseCertificates(text: string, file: string): X509Certificate[] {
  const blocks = splitPemCertificates(text);
  if (blocks.length === 0) throw new TlsFileError(file, 'no PEM CERTIFICATE block found');
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new TlsFileError(file, `certificate ${i + 1} does not parse: ${(err as Error).message}`, { cause: err });
    }
  });
}

/**
 * Parses a PEM private key (PKCS#8, SEC1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`). Encrypted keys are
 * rejected. Throws {@link TlsFileError} naming `file`; node:crypto's reason is kept, the key text never.
 */
export function parsePrivateKey(text: string, file: string): KeyObject {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw new TlsFileError(file, 'no PEM PRIVATE KEY block found');
  if (text.includes('ENCRYPTED')) throw new TlsFileError(file, 'encrypted private keys are not supported');
  try {
    return createPrivateKey({ key: text, format: 'pem' });
  } catch (err) {
    throw new TlsFileError(file, `private key does not parse: ${(err as Error).message}`, { cause: err });
  }
}

/** Throws {@link TlsFileError} naming `keyFile` unless `key` is the private key of `cert`. */
export function checkKeyMatches(cert: X509Certificate, key: KeyObject, keyFile: string, certFile: string): void {
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(key);
  } catch {
    matches = false;
  }
  if (!matches) throw new TlsFileError(keyFile, `private key does not match the certificate in ${certFile}`);
}

/**
 * A distinguished name on one line (`O=meshlet, CN=...`). Node renders names one attribute per line, and an empty
 * name (meshlet's leaves have an empty subject) as undefined on Node 20, despite its type; that shows as "".
 */
export function oneLineName(dn: string | undefined): string {
  return (dn ?? '').split('\n').join(', ');
}
