// SPDX-License-Identifier: Apache-2.0
// The nginx reference path of the benchmark: renders bench/nginx.conf.template into a private prefix and runs
// nginx in the foreground (one worker, grpc_pass to the upstream), not as a system service.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { preflightCall } from './grpc-wire.js';
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
  };
  return template.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`nginx.conf.template: unknown placeholder {{${key}}}`);
    return value;
  });
}

/**
 * Writes the config under `<workDir>/nginx`, starts nginx in the foreground and waits until a gRPC call through it
 * succeeds. Rejects (with nginx's error log) if it exits or does not serve within 15 s.
 */
export async function startNginx(
  bin: string,
  workDir: string,
  listenPort: number,
  upstreamPort: number,
  keepalive: number,
  body: Buffer,
): Promise<Tracked> {
  const version = nginxVersion(bin);
  if (!version) throw new Error(`${bin} -v did not report an nginx version`);
  const prefix = path.join(workDir, 'nginx');
  mkdirSync(prefix, { recursive: true });
  const confPath = path.join(prefix, 'nginx.conf');
  const uid = process.getuid?.() ?? -1;
  writeFileSync(confPath, renderNginxConfig({ prefix, listenPort, upstreamPort, keepalive, version, uid }));
  const errorLog = path.join(prefix, 'error.log');
  const nginx = spawnTracked('nginx', bin, ['-p', `${prefix}/`, '-c', confPath, '-e', errorLog], {
    logPath: path.join(prefix, 'stdout.log'),
  });
  try {
    await waitUntilReady(nginx, () => preflightCall(listenPort, body));
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
