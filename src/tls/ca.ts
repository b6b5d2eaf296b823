// SPDX-License-Identifier: Apache-2.0
// The built-in CA: creates a root (and optionally an intermediate) for a SPIFFE trust domain, and issues X.509-SVID
// leaves from it. Keys come from WebCrypto (node:crypto), certificates are built by @peculiar/x509 and checked by
// node:crypto's X509Certificate (docs/decisions.md §13). Used by `meshlet ca` (ca-cli.ts), the `ca` certificate
// source and tests.
//
// Certificate profile (SPIFFE X509-SVID.md §3-4, RFC 5280):
// - root: self-signed, basicConstraints CA:true (critical), keyUsage keyCertSign+cRLSign (critical), SKI/AKI, URI
//   SAN `spiffe://<trust domain>`;
// - intermediate: as the root, signed by it, pathLen 0, so it can sign leaves only;
// - leaf: basicConstraints CA:false (critical), keyUsage digitalSignature (+keyEncipherment for RSA) (critical),
//   extKeyUsage serverAuth+clientAuth, exactly one URI SAN (the SPIFFE ID) plus any DNS SANs, empty subject (so
//   the SAN extension is critical, RFC 5280 §4.2.1.6), SKI/AKI, random serial, notBefore one minute in the past
//   for clock skew, notAfter capped at the signer's.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPublicKey, randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSpiffeId, trustDomainId, uriSans, validateTrustDomain } from '../spiffe/identity.js';
import { checkKeyMatches, parseCertificates, parsePrivateKey, TlsFileError } from './pem.js';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** Key algorithms the CA creates and accepts. */
export type KeyType = 'ecdsa-p256' | 'rsa-2048';
/** Every {@link KeyType}, for CLI validation. */
export const KEY_TYPES: readonly KeyType[] = ['ecdsa-p256', 'rsa-2048'];

/** How far notBefore is set in the past, so peers with a slow clock accept a fresh certificate. */
export const CLOCK_SKEW_MS = 60_000;

/** File names inside a CA directory. */
export const CA_FILES = {
  rootCert: 'root.crt',
  rootKey: 'root.key',
  intermediateCert: 'intermediate.crt',
  intermediateKey: 'intermediate.key',
} as const;

const GEN_PARAMS: Record<KeyType, webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams> = {
  'ecdsa-p256': { name: 'ECDSA', namedCurve: 'P-256' },
  'rsa-2048': { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
};

/** Creates a key pair (extractable, so the private key can be written out). */
export async function generateKeyPair(type: KeyType): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(GEN_PARAMS[type], true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** PKCS#8 PEM of a private key. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
}

/** The key type of a parsed private key, or undefined for anything the CA does not use. */
function keyTypeOf(key: KeyObject): KeyType | undefined {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256';
  if (key.asymmetricKeyType === 'rsa') return 'rsa-2048';
  return undefined;
}

/** Imports a node:crypto private key into WebCrypto as a signing key pair. */
async function toCryptoKeyPair(key: KeyObject, type: KeyType): Promise<CryptoKeyPair> {
  const params = type === 'ecdsa-p256' ? GEN_PARAMS[type] : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, params, true, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', spki, params, true, ['verify']);
  return { privateKey, publicKey };
}

function signingAlgorithm(key: CryptoKey): webcrypto.Algorithm | webcrypto.EcdsaParams {
  return key.algorithm.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' };
}

/** A random positive serial of 16 bytes in minimal DER form (RFC 5280 §4.1.2.2: unique, at most 20 octets). */
export function randomSerialHex(random: (n: number) => Buffer = randomBytes): string {
  for (;;) {
    const bytes = random(16);
    if (bytes[0] === 0) continue;
    const hex = bytes.toString('hex');
    return (bytes[0] as number) >= 0x80 ? `00${hex}` : hex;
  }
}

/** A CA's signing certificate and key. */
export interface Signer {
  readonly cert: X509Certificate;
  readonly certPem: string;
  readonly keys: CryptoKeyPair;
  readonly keyType: KeyType;
}

/** A CA directory, loaded and checked. */
export interface LoadedCa {
  readonly dir: string;
  readonly trustDomain: string;
  readonly root: Signer;
  /** The intermediate when the directory has one. */
  readonly intermediate: Signer | undefined;
  /** The certificate and key that sign leaves: the intermediate when present, else the root. */
  readonly signer: Signer;
  /** PEM of the root: the trust bundle peers verify against. */
  readonly trustBundlePem: string;
  /** PEM of the certificates between a leaf and the root (the intermediate, or nothing). */
  readonly chainPem: string;
}

/** Options of {@link initCa}. */
export interface InitCaOptions {
  /** Directory to create the CA in; created if missing. Existing CA files are never overwritten. */
  readonly dir: string;
  /** Validated with the SPIFFE rules (lower-case, a-z 0-9 . - _). */
  readonly trustDomain: string;
  /** Also create an intermediate (signed by the root, pathLen 0) that signs the leaves. Default false. */
  readonly intermediate?: boolean;
  /** Default `ecdsa-p256`. */
  readonly keyType?: KeyType;
  /** Lifetime of the root (and intermediate), ms. Default 8760 h (one year). */
  readonly ttlMs?: number;
  /** Wall clock, ms since the epoch. Default Date.now. */
  readonly now?: () => number;
}

/** Creates a CA directory: `root.crt` + `root.key` (and `intermediate.crt` + `intermediate.key`). Keys 0600. */
export async function initCa(options: InitCaOptions): Promise<LoadedCa> {
  const trustDomain = validateTrustDomain(options.trustDomain);
  const keyType = options.keyType ?? 'ecdsa-p256';
  const ttlMs = options.ttlMs ?? 8760 * 3_600_000;
  const now = (options.now ?? Date.now)();
  const dir = options.dir;
  const names = options.intermediate
    ? [CA_FILES.rootCert, CA_FILES.rootKey, CA_FILES.intermediateCert, CA_FILES.intermediateKey]
    : [CA_FILES.rootCert, CA_FILES.rootKey];
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const name of names) {
    if (await exists(join(dir, name))) {
      throw new TlsFileError(join(dir, name), 'already exists; refusing to overwrite a CA (choose another --dir)');
    }
  }
  const notBefore = new Date(now - CLOCK_SKEW_MS);
  const notAfter = new Date(now + ttlMs);
  const san = new x509.SubjectAlternativeNameExtension([{ type: 'url', value: trustDomainId(trustDomain) }], false);

  const rootKeys = await generateKeyPair(keyType);
  const rootSerial = randomSerialHex();
  const rootName = `O=meshlet, CN=meshlet root CA ${rootSerial.slice(-8)}`;
  const rootCert = await x509.X509CertificateGenerator.create({
    serialNumber: rootSerial,
    subject: rootName,
    issuer: rootName,
    notBefore,
    notAfter,
    publicKey: rootKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: signingAlgorithm(rootKeys.privateKey),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
      san,
    ],
  });
  await writePrivate(join(dir, CA_FILES.rootKey), await privateKeyPem(rootKeys.privateKey), 'wx');
  await writeFile(join(dir, CA_FILES.rootCert), rootCert.toString('pem') + '\n', { flag: 'wx', mode: 0o644 });

  if (options.intermediate) {
    const keys = await generateKeyPair(keyType);
    const serial = randomSerialHex();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: `O=meshlet, CN=meshlet intermediate CA ${serial.slice(-8)}`,
      issuer: rootCert.subjectName,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: rootKeys.privateKey,
      signingAlgorithm: signingAlgorithm(rootKeys.privateKey),
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
        san,
      ],
    });
    await writePrivate(join(dir, CA_FILES.intermediateKey), await privateKeyPem(keys.privateKey), 'wx');
    await writeFile(join(dir, CA_FILES.intermediateCert), cert.toString('pem') + '\n', { flag: 'wx', mode: 0o644 });
  }
  return loadCa(dir);
}

/**
 * Loads and checks a CA directory: each certificate parses, is a CA certificate, matches its key, and the
 * intermediate (if any) is signed by the root; the trust domain is the root's `spiffe://` URI SAN. Errors are
 * {@link TlsFileError}s naming the file and the reason (missing directory or file, unreadable, no match).
 */
export async function loadCa(dir: string): Promise<LoadedCa> {
  try {
    await access(dir, constants.R_OK);
  } catch (err) {
    throw new TlsFileError(dir, `CA directory is missing or unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'}); create it with \`meshlet ca init\``, { cause: err });
  }
  const root = await loadSigner(join(dir, CA_FILES.rootCert), join(dir, CA_FILES.rootKey));
  if (root.cert.issuer !== root.cert.subject || !root.cert.verify(root.cert.publicKey)) {
    throw new TlsFileError(join(dir, CA_FILES.rootCert), 'not a self-signed root certificate');
  }
  const spiffeUris = uriSans(root.cert.subjectAltName).filter((u) => u.startsWith('spiffe://'));
  if (spiffeUris.length !== 1) {
    throw new TlsFileError(join(dir, CA_FILES.rootCert), 'root has no spiffe://<trust-domain> URI SAN');
  }
  const trustDomain = parseSpiffeId(spiffeUris[0] as string, { requirePath: false }).trustDomain;

  const hasCert = await exists(join(dir, CA_FILES.intermediateCert));
  const hasKey = await exists(join(dir, CA_FILES.intermediateKey));
  let intermediate: Signer | undefined;
  if (hasCert !== hasKey) {
    const missing = hasCert ? CA_FILES.intermediateKey : CA_FILES.intermediateCert;
    throw new TlsFileError(join(dir, missing), 'missing (an intermediate needs both its certificate and its key)');
  }
  if (hasCert) {
    intermediate = await loadSigner(join(dir, CA_FILES.intermediateCert), join(dir, CA_FILES.intermediateKey));
    if (!intermediate.cert.checkIssued(root.cert) || !intermediate.cert.verify(root.cert.publicKey)) {
      throw new TlsFileError(join(dir, CA_FILES.intermediateCert), `not signed by the root in ${CA_FILES.rootCert}`);
    }
  }
  return {
    dir,
    trustDomain,
    root,
    intermediate,
    signer: intermediate ?? root,
    trustBundlePem: root.certPem,
    chainPem: intermediate?.certPem ?? '',
  };
}

async function loadSigner(certFile: string, keyFile: string): Promise<Signer> {
  const certText = await readText(certFile);
  const keyText = await readText(keyFile);
  const [cert] = parseCertificates(certText, certFile);
  if (cert === undefined) throw new TlsFileError(certFile, 'no certificate');
  if (!cert.ca) throw new TlsFileError(certFile, 'not a CA certificate (basicConstraints CA:false)');
  const key = parsePrivateKey(keyText, keyFile);
  const keyType = keyTypeOf(key);
  if (keyType === undefined) throw new TlsFileError(keyFile, 'unsupported key type (use ECDSA P-256 or RSA)');
  checkKeyMatches(cert, key, keyFile, certFile);
  return { cert, certPem: cert.toString(), keys: await toCryptoKeyPair(key, keyType), keyType };
}

/** Options of {@link issueLeaf}. */
export interface IssueLeafOptions {
  /** The leaf's identity; must be a workload ID in the CA's trust domain. */
  readonly spiffeId: string;
  /** Extra DNS SANs. Default none. */
  readonly dnsNames?: readonly string[];
  /** Lifetime, ms, counted from now (notBefore is a further minute back). Default 24 h. */
  readonly ttlMs?: number;
  /** Default `ecdsa-p256`. */
  readonly keyType?: KeyType;
  /** Wall clock, ms since the epoch. Default Date.now. */
  readonly now?: () => number;
}

/** An issued leaf. */
export interface IssuedLeaf {
  readonly spiffeId: string;
  /** The leaf alone. */
  readonly certPem: string;
  /** The leaf, then the intermediate if any; never the root. */
  readonly chainPem: string;
  /** PKCS#8 PEM. Never log it. */
  readonly keyPem: string;
  readonly trustBundlePem: string;
  /** Hex, as openssl prints it. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Issues an X.509-SVID leaf from a loaded CA (profile in the file header). */
export async function issueLeaf(ca: LoadedCa, options: IssueLeafOptions): Promise<IssuedLeaf> {
  const id = parseSpiffeId(options.spiffeId);
  if (id.trustDomain !== ca.trustDomain) {
    throw new TlsFileError(
      join(ca.dir, CA_FILES.rootCert),
      `SPIFFE ID ${id.id} is in trust domain "${id.trustDomain}", but this CA is for "${ca.trustDomain}"`,
    );
  }
  const keyType = options.keyType ?? 'ecdsa-p256';
  const now = (options.now ?? Date.now)();
  const signerNotAfter = new Date(ca.signer.cert.validTo).getTime();
  const notBefore = new Date(now - CLOCK_SKEW_MS);
  const notAfter = new Date(Math.min(now + (options.ttlMs ?? 86_400_000), signerNotAfter));
  if (notAfter.getTime() <= now) {
    throw new TlsFileError(join(ca.dir, ca.intermediate ? CA_FILES.intermediateCert : CA_FILES.rootCert), 'the CA certificate has expired');
  }
  const keys = await generateKeyPair(keyType);
  const usage =
    x509.KeyUsageFlags.digitalSignature | (keyType === 'rsa-2048' ? x509.KeyUsageFlags.keyEncipherment : 0);
  const serial = randomSerialHex();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: '',
    // The signer's subject as encoded in its certificate, byte for byte (path building compares names).
    issuer: new x509.X509Certificate(ca.signer.certPem).subjectName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.signer.keys.privateKey,
    signingAlgorithm: signingAlgorithm(ca.signer.keys.privateKey),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usage, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      new x509.SubjectAlternativeNameExtension(
        [{ type: 'url', value: id.id }, ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value }))],
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.signer.keys.publicKey),
    ],
  });
  const certPem = cert.toString('pem') + '\n';
  // Node parses what @peculiar/x509 built, so a certificate Node would reject never leaves the CA.
  const parsed = new X509Certificate(certPem);
  if (!parsed.verify(ca.signer.cert.publicKey)) throw new Error('issued leaf does not verify against its signer');
  return {
    spiffeId: id.id,
    certPem,
    chainPem: certPem + ca.chainPem,
    keyPem: await privateKeyPem(keys.privateKey),
    trustBundlePem: ca.trustBundlePem,
    serial: parsed.serialNumber,
    notBefore: new Date(parsed.validFrom),
    notAfter: new Date(parsed.validTo),
  };
}

/** Writes `<prefix>.crt` (chain) and `<prefix>.key` (0600), each atomically (temp file + rename). */
export async function writeLeaf(prefix: string, leaf: IssuedLeaf): Promise<{ certFile: string; keyFile: string }> {
  const certFile = `${prefix}.crt`;
  const keyFile = `${prefix}.key`;
  await writePrivate(keyFile, leaf.keyPem, 'replace');
  const tmp = `${certFile}.tmp-${process.pid}`;
  await writeFile(tmp, leaf.chainPem, { mode: 0o644 });
  await rename(tmp, certFile);
  return { certFile, keyFile };
}

/**
 * Writes a private key readable by its owner only. A new file is created with mode 0600 (a temp file renamed into
 * place for `replace`), so the key is never readable by others, not even briefly.
 */
async function writePrivate(file: string, pem: string, how: 'wx' | 'replace'): Promise<void> {
  if (how === 'wx') {
    await writeFile(file, pem, { mode: 0o600, flag: 'wx' });
    return;
  }
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, pem, { mode: 0o600, flag: 'w' });
  await rename(tmp, file);
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TlsFileError(file, code === 'ENOENT' ? 'missing' : `unreadable (${code ?? (err as Error).message})`, { cause: err });
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
