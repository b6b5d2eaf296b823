// SPDX-License-Identifier: Apache-2.0
// SPIFFE identities, pure: parse and validate IDs, derive this sidecar's own ID from the bootstrap, read the ID out
// of a certificate's subjectAltName, and match IDs against authorization patterns. No I/O; used by the certificate
// sources (src/tls/sources/), the CA (src/tls/ca.ts) and peer verification.
//
// Rules from the SPIFFE ID standard (spiffe/spiffe standards/SPIFFE-ID.md §2) and the X.509-SVID standard
// (standards/X509-SVID.md §2, §5.2): scheme `spiffe`, a lower-case trust domain of [a-z0-9.-_] (no port, no
// userinfo), a path of non-empty segments of [A-Za-z0-9.-_] that are not `.` or `..`, no trailing slash, no query
// or fragment, no percent-encoding, at most 2048 bytes; an SVID carries exactly one URI SAN.

/** Longest SPIFFE ID accepted, in bytes of its UTF-8 form (SPIFFE-ID.md §2.3). */
export const MAX_SPIFFE_ID_BYTES = 2048;
/** Longest trust domain name accepted, in bytes (SPIFFE-ID.md §2.1). */
export const MAX_TRUST_DOMAIN_BYTES = 255;

const TRUST_DOMAIN_CHAR = /^[a-z0-9.\-_]$/;
const SEGMENT_CHAR = /^[A-Za-z0-9.\-_]$/;

/** A validated SPIFFE ID. */
export interface SpiffeId {
  /** The whole ID, e.g. `spiffe://meshlet.local/ns/shop/sa/billing`. */
  readonly id: string;
  readonly trustDomain: string;
  /** The path with its leading slash, e.g. `/ns/shop/sa/billing`; `''` for a trust domain's own ID. */
  readonly path: string;
  readonly segments: readonly string[];
}

/** Why a string is not a SPIFFE ID (or a certificate carries none). `message` says what is wrong and where. */
export class SpiffeIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpiffeIdError';
  }
}

/**
 * Parses and validates a SPIFFE ID. `requirePath` (default true) rejects a bare trust-domain ID such as
 * `spiffe://example.org`, which names the trust domain itself (a CA) and never a workload (X509-SVID.md §3.1).
 * Throws {@link SpiffeIdError} naming the first rule broken.
 */
export function parseSpiffeId(input: string, options: { readonly requirePath?: boolean } = {}): SpiffeId {
  const bad = (why: string): never => {
    throw new SpiffeIdError(`invalid SPIFFE ID ${JSON.stringify(truncate(input))}: ${why}`);
  };
  if (input === '') bad('empty');
  if (Buffer.byteLength(input, 'utf8') > MAX_SPIFFE_ID_BYTES) bad(`longer than ${MAX_SPIFFE_ID_BYTES} bytes`);
  if (!input.startsWith('spiffe://')) {
    bad(/^spiffe:\/\//i.test(input) ? 'the scheme must be lower-case "spiffe"' : 'the scheme must be "spiffe://"');
  }
  if (input.includes('?')) bad('a query ("?") is not allowed');
  if (input.includes('#')) bad('a fragment ("#") is not allowed');
  if (input.includes('%')) bad('percent-encoded characters are not allowed');
  const rest = input.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  checkTrustDomain(trustDomain, bad);
  const segments = path === '' ? [] : path.slice(1).split('/');
  if (path === '' && options.requirePath !== false) bad('a workload ID needs a path, e.g. /ns/NAMESPACE/sa/ACCOUNT');
  segments.forEach((segment, i) => {
    if (segment === '') bad(i === segments.length - 1 ? 'trailing "/" is not allowed' : 'empty path segment ("//")');
    if (segment === '.' || segment === '..') bad(`path segment "${segment}" is not allowed`);
    for (const ch of segment) {
      if (!SEGMENT_CHAR.test(ch)) bad(`character ${JSON.stringify(ch)} is not allowed in a path (A-Z a-z 0-9 . - _)`);
    }
  });
  return { id: input, trustDomain, path, segments };
}

/** Validates a trust domain name (the host part of a SPIFFE ID); throws {@link SpiffeIdError}. */
export function validateTrustDomain(name: string): string {
  checkTrustDomain(name, (why) => {
    throw new SpiffeIdError(`invalid trust domain ${JSON.stringify(truncate(name))}: ${why}`);
  });
  return name;
}

function checkTrustDomain(td: string, bad: (why: string) => never): void {
  if (td === '') bad('the trust domain is empty');
  if (td.includes('@')) bad('userinfo ("user@") is not allowed in the trust domain');
  if (td.includes(':')) bad('a port is not allowed in the trust domain');
  if (Buffer.byteLength(td, 'utf8') > MAX_TRUST_DOMAIN_BYTES) bad(`trust domain longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`);
  for (const ch of td) {
    if (!TRUST_DOMAIN_CHAR.test(ch)) {
      bad(
        /[A-Z]/.test(ch)
          ? 'the trust domain must be lower-case'
          : `character ${JSON.stringify(ch)} is not allowed in the trust domain (a-z 0-9 . - _)`,
      );
    }
  }
}

/** The ID of a trust domain itself, as the URI SAN of a CA certificate: `spiffe://<trustDomain>`. */
export function trustDomainId(trustDomain: string): string {
  return `spiffe://${validateTrustDomain(trustDomain)}`;
}

/** What {@link deriveSpiffeId} reads: the `mtls` bootstrap fields, the service name and the pod's env. */
export interface IdentityInputs {
  readonly trustDomain: string;
  /** `mtls.identity`: used as is when set. */
  readonly identity?: string | undefined;
  readonly kubernetes?: { readonly namespace: string; readonly serviceAccount: string } | undefined;
  /** `service.name`, for the `/svc/<name>` form. */
  readonly serviceName?: string | undefined;
  /**
   * The process env (only MESHLET_POD_NAMESPACE and MESHLET_SERVICE_ACCOUNT are read; empty counts as unset).
   * Each overrides its `kubernetes` field, so the downward API can supply both without a `kubernetes` section.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * This sidecar's SPIFFE ID, first rule that applies:
 * 1. `identity` when set;
 * 2. `spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>` when both are known (env over config);
 * 3. `spiffe://<trustDomain>/svc/<serviceName>`.
 * Throws {@link SpiffeIdError} when none applies (only one of namespace/service account, and no service name)
 * or the result is not a valid ID (e.g. a namespace with a character SPIFFE paths do not allow).
 */
export function deriveSpiffeId(inputs: IdentityInputs): SpiffeId {
  if (inputs.identity !== undefined) return parseSpiffeId(inputs.identity);
  const td = validateTrustDomain(inputs.trustDomain);
  const env = inputs.env ?? {};
  const fromEnv = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  const namespace = fromEnv('MESHLET_POD_NAMESPACE') ?? inputs.kubernetes?.namespace;
  const serviceAccount = fromEnv('MESHLET_SERVICE_ACCOUNT') ?? inputs.kubernetes?.serviceAccount;
  if (namespace !== undefined && serviceAccount !== undefined) {
    return parseSpiffeId(`spiffe://${td}/ns/${namespace}/sa/${serviceAccount}`);
  }
  if (inputs.serviceName !== undefined && inputs.serviceName !== '') {
    return parseSpiffeId(`spiffe://${td}/svc/${inputs.serviceName}`);
  }
  const half =
    namespace !== undefined
      ? 'a namespace but no service account (MESHLET_SERVICE_ACCOUNT or mtls.kubernetes.serviceAccount)'
      : serviceAccount !== undefined
        ? 'a service account but no namespace (MESHLET_POD_NAMESPACE or mtls.kubernetes.namespace)'
        : 'no mtls.identity, no Kubernetes namespace and service account';
  throw new SpiffeIdError(`cannot derive this sidecar's SPIFFE ID: ${half}, and no service.name`);
}

/**
 * The URI entries of a certificate's subjectAltName in Node's rendering (`X509Certificate.subjectAltName`,
 * e.g. `DNS:a.example, URI:spiffe://td/x`; values with special characters are JSON-quoted since Node 17).
 */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined || subjectAltName === '') return [];
  const out: string[] = [];
  let i = 0;
  while (i < subjectAltName.length) {
    const colon = subjectAltName.indexOf(':', i);
    if (colon === -1) break;
    const kind = subjectAltName.slice(i, colon).trim();
    let value: string;
    let next: number;
    if (subjectAltName[colon + 1] === '"') {
      // A JSON string literal: find its closing quote, skipping escapes.
      let j = colon + 2;
      while (j < subjectAltName.length && subjectAltName[j] !== '"') j += subjectAltName[j] === '\\' ? 2 : 1;
      value = JSON.parse(subjectAltName.slice(colon + 1, j + 1)) as string;
      next = subjectAltName.indexOf(',', j + 1);
    } else {
      next = subjectAltName.indexOf(',', colon + 1);
      value = subjectAltName.slice(colon + 1, next === -1 ? undefined : next);
    }
    if (kind === 'URI') out.push(value);
    if (next === -1) break;
    i = next + 1;
  }
  return out;
}

/**
 * The SPIFFE ID of an X.509-SVID leaf: its one URI SAN, which must be a valid workload SPIFFE ID. Takes anything
 * with Node's `subjectAltName` (an `X509Certificate`, or a peer certificate from `tlsSocket.getPeerX509Certificate()`).
 * Throws {@link SpiffeIdError}: no SAN, no URI SAN, more than one URI SAN (X509-SVID.md §2: validators MUST reject
 * it), a URI of another scheme, or an invalid ID.
 */
export function spiffeIdFromCertificate(cert: { readonly subjectAltName?: string | undefined }): SpiffeId {
  const uris = uriSans(cert.subjectAltName);
  if (uris.length === 0) {
    throw new SpiffeIdError(
      cert.subjectAltName === undefined || cert.subjectAltName === ''
        ? 'certificate has no subjectAltName, so no SPIFFE ID'
        : 'certificate has no URI SAN, so no SPIFFE ID',
    );
  }
  if (uris.length > 1) {
    throw new SpiffeIdError(`certificate has ${uris.length} URI SANs (${uris.join(', ')}); an X.509-SVID has exactly one`);
  }
  const uri = uris[0] as string;
  if (!uri.toLowerCase().startsWith('spiffe:')) {
    throw new SpiffeIdError(`certificate's URI SAN ${JSON.stringify(truncate(uri))} is not a spiffe:// URI`);
  }
  return parseSpiffeId(uri);
}

function truncate(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}
