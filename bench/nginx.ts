// SPDX-License-Identifier: Apache-2.0
// The nginx reference path of the benchmark: renders bench/nginx.conf.template into a private prefix and runs
// nginx in the foreground (one worker, grpc_pass to the upstream), not as a system service. Optionally with TLS on
// the listener (client certs required) and/or TLS with a client cert to the upstream, for the mTLS suite.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type PreflightTls, preflightCall } from './grpc-wire.js';
import { spawnTracked, type Tracked, waitUntilReady } from './processes.js';

/** Works from both bench/ (tsx, vitest) and dist/bench/ (npm run bench). */
const TEMPLATE_CANDIDATES = ['../../bench/nginx.conf.template', './nginx.conf.template'].map((p) =>
  fileURLToPath(new URL(p, import.meta.url)),
);

export interface NginxConfigOptions {
  /** Absolute directory holding nginx.conf, pid, error log and temp dirs. */
  prefix: string;
  listenPort: number;
  upstreamPort: number;
  /** Idle upstream connections to keep; at least the bench's clients x streams. */
  keepalive: number;
  /** nginx version as [major, minor, patch]; `http2 on;` exists from 1.25.1, older versions use `listen ... http2`. */
  version: readonly [number, number, number];
  /** The uid the harness runs as; as root, nginx's worker would switch to `nobody` and lose access to the prefix. */
  uid: number;
  /** TLS on either side; default none (h2c both ways, the default suite's config). */
  tls?: NginxTls;
}

/** File paths of the TLS material nginx reads (PEM). */
export interface NginxTls {
  /** `listen ... ssl` with this certificate; with `clientCa`, `ssl_verify_client on` against it. */
  server?: { cert: string; key: string; clientCa?: string };
  /**
   * `grpc_pass grpcs://` with this client certificate, the server's chain verified against `ca` and its
   * certificate's DNS name against `name` (nginx checks names, not SPIFFE URI SANs).
   */
  upstream?: { cert: string; key: string; ca: string; name: string };
}

/**
 * TLS versions on both sides. nginx enables TLS 1.3 by default only from 1.23.4; 1.22 (Debian 12) would negotiate
 * TLS 1.2 with a Node.js peer, while meshlet negotiates 1.3, and the reference would measure another protocol.
 */
const TLS_PROTOCOLS = 'TLSv1.2 TLSv1.3';

/** The ssl_* directives of a TLS listener. Other defaults (curves, ciphers, tickets) stay nginx's. */
export function serverTlsDirectives(server: NonNullable<NginxTls['server']>): string[] {
  return [
    `ssl_protocols ${TLS_PROTOCOLS};`,
    `ssl_certificate ${server.cert};`,
    `ssl_certificate_key ${server.key};`,
    ...(server.clientCa ? [`ssl_client_certificate ${server.clientCa};`, 'ssl_verify_client on;', 'ssl_verify_depth 2;'] : []),
  ];
}

/** The grpc_ssl_* directives of a TLS upstream with a client certificate and verification on. */
export function upstreamTlsDirectives(upstream: NonNullable<NginxTls['upstream']>): string[] {
  return [
    `grpc_ssl_protocols ${TLS_PROTOCOLS};`,
    `grpc_ssl_certificate ${upstream.cert};`,
    `grpc_ssl_certificate_key ${upstream.key};`,
    `grpc_ssl_trusted_certificate ${upstream.ca};`,
    'grpc_ssl_verify on;',
    'grpc_ssl_verify_depth 2;',
    `grpc_ssl_name ${upstream.name};`,
  ];
}

/** The version `<bin> -v` reports (on stderr), or undefined when it cannot run or says something else. */
export function nginxVersion(bin: string): [number, number, number] | undefined {
  const result = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  return parseNginxVersion(`${result.stdout ?? ''}${result.stderr ?? ''}`);
}

function parseNginxVersion(text: string): [number, number, number] | undefined {
  const match = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(text);
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

/** Fills bench/nginx.conf.template. No I/O besides reading the template; throws on an unknown placeholder. */
export function renderNginxConfig(options: NginxConfigOptions): string {
  const templatePath = TEMPLATE_CANDIDATES.find((p) => existsSync(p));
  if (!templatePath) throw new Error(`nginx.conf.template not found (looked in ${TEMPLATE_CANDIDATES.join(', ')})`);
  const template = readFileSync(templatePath, 'utf8');
  const [major, minor, patch] = options.version;
  const hasHttp2Directive = major > 1 || (major === 1 && (minor > 25 || (minor === 25 && patch >= 1)));
  const values: Record<string, string> = {
    PREFIX: options.prefix,
    USER_DIRECTIVE: options.uid === 0 ? 'user root;' : '',
    LISTEN: `127.0.0.1:${options.listenPort}`,
    LISTEN_HTTP2: hasHttp2Directive ? '' : ' http2',
    HTTP2_DIRECTIVE: hasHttp2Directive ? 'http2 on;' : '',
    UPSTREAM: `127.0.0.1:${options.upstreamPort}`,
    KEEPALIVE: String(options.keepalive),
    LISTEN_SSL: options.tls?.server ? ' ssl' : '',
    SERVER_TLS: options.tls?.server ? serverTlsDirectives(options.tls.server).join('\n        ') : '',
    UPSTREAM_SCHEME: options.tls?.upstream ? 'grpcs' : 'grpc',
    UPSTREAM_TLS: options.tls?.upstream ? upstreamTlsDirectives(options.tls.upstream).join('\n            ') : '',
  };
  return template.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`nginx.conf.template: unknown placeholder {{${key}}}`);
    return value;
  });
}

/** What distinguishes one of several nginx instances in a work dir. */
export interface NginxInstance {
  /** Process name, and the directory under the work dir holding its prefix. Default `nginx`. */
  name?: string;
  /** TLS on the listener and/or to the upstream. Default none. */
  tls?: NginxTls;
  /** How the readiness call reaches a TLS listener. Required when `tls.server` is set. */
  probeTls?: PreflightTls;
}

/**
 * Writes the config under `<workDir>/<name>`, starts nginx in the foreground and waits until a gRPC call through it
 * succeeds. Rejects (with nginx's error log) if it exits or does not serve within 15 s.
 */
export async function startNginx(
  bin: string,
  workDir: string,
  listenPort: number,
  upstreamPort: number,
  keepalive: number,
  body: Buffer,
  instance: NginxInstance = {},
): Promise<Tracked> {
  const version = nginxVersion(bin);
  if (!version) throw new Error(`${bin} -v did not report an nginx version`);
  const name = instance.name ?? 'nginx';
  const prefix = path.join(workDir, name);
  mkdirSync(prefix, { recursive: true });
  const confPath = path.join(prefix, 'nginx.conf');
  const uid = process.getuid?.() ?? -1;
  writeFileSync(confPath, renderNginxConfig({ prefix, listenPort, upstreamPort, keepalive, version, uid, tls: instance.tls }));
  const errorLog = path.join(prefix, 'error.log');
  const nginx = spawnTracked(name, bin, ['-p', `${prefix}/`, '-c', confPath, '-e', errorLog], {
    logPath: path.join(prefix, 'stdout.log'),
  });
  try {
    await waitUntilReady(nginx, () => preflightCall(listenPort, body, 2000, instance.probeTls));
  } catch (err) {
    let log = '';
    try {
      log = readFileSync(errorLog, 'utf8').slice(-2000);
    } catch {
      // no error log yet
    }
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  return nginx;
}
