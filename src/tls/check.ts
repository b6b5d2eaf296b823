// SPDX-License-Identifier: Apache-2.0
// Validation of one set of TLS material before any source publishes it: every certificate parses, the key matches
// the leaf, the leaf is an X.509-SVID (one SPIFFE ID, not a CA), it chains through the given intermediates to a
// root of the trust bundle, and every certificate on the path is valid now. Errors name the file and the reason.

import type { X509Certificate } from 'node:crypto';
import { spiffeIdFromCertificate } from '../spiffe/identity.js';
import type { TlsMaterial } from './material.js';
import { checkKeyMatches, oneLineName, parseCertificates, parsePrivateKey, TlsFileError } from './pem.js';

/** Where each part came from, for errors (file paths, or e.g. `consul connect/ca/leaf/web`). */
export interface MaterialOrigin {
  readonly chain: string;
  readonly key: string;
  readonly bundle: string;
}

/** The PEM texts to check. */
export interface MaterialPem {
  readonly certChainPem: string;
  readonly keyPem: string;
  readonly trustBundlePem: string;
}

/** Material without its generation (the source assigns it when it publishes). */
export type CheckedMaterial = Omit<TlsMaterial, 'generation'>;

/** Longest chain followed from the leaf to a root, in certificates. */
const MAX_DEPTH = 8;

/** Checks `pem` at wall time `now` (ms); returns it with its identity and validity, or throws {@link TlsFileError}. */
export function checkMaterial(pem: MaterialPem, origin: MaterialOrigin, now: number): CheckedMaterial {
  const chain = parseCertificates(pem.certChainPem, origin.chain);
  const bundle = parseCertificates(pem.trustBundlePem, origin.bundle);
  const leaf = chain[0] as X509Certificate;
  const key = parsePrivateKey(pem.keyPem, origin.key);
  checkKeyMatches(leaf, key, origin.key, origin.chain);
  let identity: string;
  try {
    identity = spiffeIdFromCertificate(leaf).id;
  } catch (err) {
    throw new TlsFileError(origin.chain, `leaf certificate: ${(err as Error).message}`, { cause: err });
  }
  if (leaf.ca) throw new TlsFileError(origin.chain, 'leaf certificate is a CA certificate (basicConstraints CA:true)');
  checkValidity(leaf, 'leaf certificate', origin.chain, now);
  checkChain(leaf, chain.slice(1), bundle, origin, now);
  return {
    identity,
    certChainPem: pem.certChainPem,
    keyPem: pem.keyPem,
    trustBundlePem: pem.trustBundlePem,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
  };
}

function checkValidity(cert: X509Certificate, what: string, file: string, now: number): void {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (now < from) throw new TlsFileError(file, `${what} is not valid yet (notBefore ${new Date(from).toISOString()})`);
  if (now > to) throw new TlsFileError(file, `${what} expired at ${new Date(to).toISOString()}`);
}

const issuedBy = (cert: X509Certificate, issuer: X509Certificate): boolean =>
  cert.checkIssued(issuer) && cert.verify(issuer.publicKey);

/** Follows issuers from the leaf through `intermediates` until a root of `bundle` signed the current certificate. */
function checkChain(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  bundle: readonly X509Certificate[],
  origin: MaterialOrigin,
  now: number,
): void {
  let current = leaf;
  const unused = [...intermediates];
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const root = bundle.find((r) => issuedBy(current, r));
    if (root !== undefined) {
      checkValidity(root, `trust bundle root "${oneLineName(root.subject)}"`, origin.bundle, now);
      return;
    }
    const i = unused.findIndex((c) => c.ca && issuedBy(current, c));
    if (i === -1) break;
    current = unused.splice(i, 1)[0] as X509Certificate;
    checkValidity(current, `intermediate "${oneLineName(current.subject)}"`, origin.chain, now);
  }
  throw new TlsFileError(
    origin.chain,
    `certificate chain does not lead to a root in ${origin.bundle} (issuer of the last link: "${oneLineName(current.issuer)}")`,
  );
}
