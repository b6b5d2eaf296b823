// SPDX-License-Identifier: Apache-2.0
// Quick mode's TLS flags (`meshlet proxy`): parsing, validation and file loading into the listener's TLS part and the
// upstream connector. Every problem is reported with the flag, the file and the reason, before anything starts.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Connector } from '../h2/session-pool.js';
import type { InboundTls } from './accept.js';
import { createTlsConnector } from './connector.js';
import { buildClientContext, buildServerTls } from './contexts.js';
import { randomBytes } from 'node:crypto';

/** The `parseArgs` option table of the TLS flags, merged into `meshlet proxy`'s own. */
export const QUICK_TLS_OPTIONS = {
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-client-ca': { type: 'string' },
  'upstream-tls': { type: 'boolean' },
  'upstream-ca': { type: 'string' },
  'upstream-server-name': { type: 'string' },
  'upstream-cert': { type: 'string' },
  'upstream-key': { type: 'string' },
  'upstream-spiffe-id': { type: 'string' },
} as const;

/** The values of QUICK_TLS_OPTIONS as parseArgs returns them. */
export interface QuickTlsFlags {
  readonly 'tls-cert'?: string;
  readonly 'tls-key'?: string;
  readonly 'tls-client-ca'?: string;
  readonly 'upstream-tls'?: boolean;
  readonly 'upstream-ca'?: string;
  readonly 'upstream-server-name'?: string;
  readonly 'upstream-cert'?: string;
  readonly 'upstream-key'?: string;
  readonly 'upstream-spiffe-id'?: string;
}

/** Quick mode's TLS: the listener's part and the connector to the upstream, each absent when not asked for. */
export interface QuickTls {
  readonly listener: InboundTls | undefined;
  readonly upstream: Connector | undefined;
}

export type QuickTlsResult = { readonly ok: true; readonly tls: QuickTls } | { readonly ok: false; readonly errors: string[] };

class FlagError extends Error {}

function read(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new FlagError(`--${flag} ${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function certs(flag: string, file: string): string {
  const pem = read(flag, file);
  try {
    new X509Certificate(pem);
  } catch (err) {
    throw new FlagError(`--${flag} ${file}: not a PEM certificate (${(err as Error).message})`);
  }
  return pem;
}

/** A key file that parses and belongs to the leaf certificate of `certPem`. */
function key(flag: string, file: string, certFlag: string, certPem: string): string {
  const pem = read(flag, file);
  let k;
  try {
    k = createPrivateKey(pem);
  } catch (err) {
    throw new FlagError(`--${flag} ${file}: not a PEM private key (${(err as Error).message})`);
  }
  if (!new X509Certificate(certPem).checkPrivateKey(k)) {
    throw new FlagError(`--${flag} ${file}: does not match the certificate of --${certFlag}`);
  }
  return pem;
}

function pairError(a: string, b: string, values: QuickTlsFlags): string | undefined {
  const has = (f: string) => values[f as keyof QuickTlsFlags] !== undefined;
  return has(a) !== has(b) ? `--${a} and --${b} go together` : undefined;
}

/**
 * Validates the flags and loads their files. Listener: `--tls-cert`/`--tls-key` turn on TLS (ALPN h2); with
 * `--tls-client-ca` clients must present a certificate chaining to it (their SPIFFE ID, when they have one, becomes
 * the calls' peer identity). Upstream: `--upstream-tls` with `--upstream-ca` verifies the upstream against that CA
 * and `--upstream-spiffe-id` (a SPIFFE ID pattern) when given, else `--upstream-server-name`, else the upstream host
 * (DNS or IP SAN); `--upstream-cert`/`--upstream-key` present a client certificate.
 */
export function loadQuickTls(values: QuickTlsFlags, options: { readonly http1?: boolean } = {}): QuickTlsResult {
  const errors: string[] = [];
  for (const [a, b] of [['tls-cert', 'tls-key'], ['upstream-cert', 'upstream-key']] as const) {
    const e = pairError(a, b, values);
    if (e) errors.push(e);
  }
  if (values['tls-client-ca'] !== undefined && values['tls-cert'] === undefined) errors.push('--tls-client-ca needs --tls-cert and --tls-key');
  const upstreamFlags = ['upstream-ca', 'upstream-server-name', 'upstream-cert', 'upstream-key', 'upstream-spiffe-id'] as const;
  if (values['upstream-tls'] !== true) {
    for (const f of upstreamFlags) if (values[f] !== undefined) errors.push(`--${f} needs --upstream-tls`);
  } else if (values['upstream-ca'] === undefined) {
    errors.push('--upstream-tls needs --upstream-ca FILE (the CA the upstream certificate must chain to)');
  }
  const spiffeId = values['upstream-spiffe-id'];
  if (spiffeId !== undefined && !spiffeId.startsWith('spiffe://')) errors.push(`--upstream-spiffe-id ${spiffeId}: expected spiffe://<trust-domain>/<path>`);
  if (errors.length > 0) return { ok: false, errors };
  try {
    let listener: InboundTls | undefined;
    const certFile = values['tls-cert'];
    const keyFile = values['tls-key'];
    if (certFile !== undefined && keyFile !== undefined) {
      const cert = certs('tls-cert', certFile);
      const clientCa = values['tls-client-ca'] === undefined ? undefined : certs('tls-client-ca', values['tls-client-ca']);
      const server = buildServerTls(
        { certChainPem: cert, keyPem: key('tls-key', keyFile, 'tls-cert', cert), ...(clientCa ? { caPem: clientCa } : {}), minVersion: 'TLSv1.2', http1: options.http1 === true },
        randomBytes(48),
      );
      listener = { mode: 'strict', server: () => server, requireClientCert: clientCa !== undefined, requireSpiffeId: false };
    }
    let upstream: Connector | undefined;
    if (values['upstream-tls'] === true) {
      const ca = certs('upstream-ca', values['upstream-ca'] as string);
      const uc = values['upstream-cert'];
      const cert = uc === undefined ? undefined : certs('upstream-cert', uc);
      const client = buildClientContext({
        caPem: ca,
        ...(cert !== undefined ? { certChainPem: cert, keyPem: key('upstream-key', values['upstream-key'] as string, 'upstream-cert', cert) } : {}),
        minVersion: 'TLSv1.2',
      });
      const serverName = values['upstream-server-name'];
      upstream = createTlsConnector({
        context: () => ({ generation: 1, client }),
        check: (_address, host) =>
          spiffeId !== undefined ? { kind: 'spiffe', patterns: [spiffeId] } : { kind: 'hostname', name: serverName ?? host },
        ...(serverName !== undefined ? { servername: serverName } : {}),
      });
    }
    return { ok: true, tls: { listener, upstream } };
  } catch (err) {
    if (err instanceof FlagError) return { ok: false, errors: [err.message] };
    return { ok: false, errors: [`TLS flags: ${(err as Error).message}`] };
  }
}
