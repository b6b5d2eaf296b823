// SPDX-License-Identifier: Apache-2.0
// The Node.js proxies under test: meshlet's built CLI in quick mode (`meshlet proxy --listen --upstream`, with or
// without its access log, or another build for A/B), bench/node-floor.ts and bench/h2-floor.ts. Each runs as its
// own process, optionally under `node --cpu-prof`, and must serve a correct gRPC call before it is measured.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type PreflightTls, preflightCall } from './grpc-wire.js';
import { logTail, spawnTracked, stopTracked, type Tracked, waitUntilReady } from './processes.js';

/** dist/src/main.js, next to this file's dist/bench/ directory. */
export const MESHLET_MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
/** dist/bench/node-floor.js. */
export const NODE_FLOOR_MAIN = fileURLToPath(new URL('./node-floor.js', import.meta.url));
/** dist/bench/h2-floor.js. */
export const H2_FLOOR_MAIN = fileURLToPath(new URL('./h2-floor.js', import.meta.url));

/** One Node.js proxy process to start. */
export interface NodeProxySpec {
  /** Bench path name; also names its log file and profile directory. */
  name: string;
  /** The script node runs. */
  script: string;
  /** Arguments after the script (listen/upstream addresses included). */
  args: readonly string[];
  /** node flags before the script (e.g. `--single-threaded-gc`). */
  nodeArgs: readonly string[];
  /** stdout + stderr of the process (meshlet+log's access log lands here). */
  logPath: string;
  listenPort: number;
  /** The bench request body, for the readiness call. */
  body: Buffer;
  /** When set, run under `node --cpu-prof --cpu-prof-dir=<profileDir>`. */
  profileDir: string | undefined;
  /** How the readiness call reaches a TLS listener; default h2c. */
  probeTls?: PreflightTls;
}

export type NodeProxyStart = { ok: true; proxy: Tracked; commandLine: string } | { ok: false; reason: string };

/**
 * `meshlet proxy` arguments. Without `accessLog`, `--no-access-log` is added when `meshlet --help` lists it, so
 * meshlet runs like nginx's `access_log off` (asked through `--help` because the CLI is still changing). The admin
 * server takes a free port unless `extra` names one: quick mode's default, 127.0.0.1:6191, is fixed.
 */
export function meshletArgs(main: string, listenPort: number, upstreamPort: number, accessLog: boolean, extra: readonly string[]): string[] {
  const args = ['proxy', '--listen', `127.0.0.1:${listenPort}`, '--upstream', `127.0.0.1:${upstreamPort}`];
  if (!accessLog) {
    const help = spawnSync(process.execPath, [main, '--help'], { encoding: 'utf8', timeout: 10_000 });
    if (`${help.stdout ?? ''}`.includes('--no-access-log')) args.push('--no-access-log');
  }
  if (!extra.includes('--admin')) args.push('--admin', '127.0.0.1:0');
  return [...args, ...extra];
}

/** PEM file paths of the mTLS suite's material (bench/certs.ts). */
export interface MeshletTlsFiles {
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** `meshlet proxy` flags for a TLS listener that requires client certificates signed by the bench CA (sidecar B). */
export function meshletListenerTlsArgs(files: MeshletTlsFiles): string[] {
  return ['--tls-cert', files.serverCert, '--tls-key', files.serverKey, '--tls-client-ca', files.caCert];
}

/**
 * `meshlet proxy` flags for mTLS to the upstream (sidecar A): the client certificate, the server's chain verified
 * against the bench CA and its SPIFFE ID checked.
 */
export function meshletUpstreamTlsArgs(files: MeshletTlsFiles, serverSpiffeId: string): string[] {
  return [
    '--upstream-tls',
    '--upstream-ca', files.caCert,
    '--upstream-cert', files.clientCert,
    '--upstream-key', files.clientKey,
    '--upstream-spiffe-id', serverSpiffeId,
  ];
}

/** node-floor arguments. */
export function nodeFloorArgs(listenPort: number, upstreamPort: number, extra: readonly string[]): string[] {
  return ['--listen', `127.0.0.1:${listenPort}`, '--upstream', `127.0.0.1:${upstreamPort}`, ...extra];
}

/** h2-floor arguments (it takes no others). */
export function h2FloorArgs(listenPort: number, upstreamPort: number): string[] {
  return ['--listen', `127.0.0.1:${listenPort}`, '--upstream', `127.0.0.1:${upstreamPort}`];
}

/**
 * Starts `node [nodeArgs] script [args]` and waits until a gRPC call through it succeeds. Never throws: when the
 * script is missing (not built), exits, or does not serve correctly within 15 s, resolves `{ ok: false, reason }`
 * so the bench can go on without that path.
 */
export async function startNodeProxy(spec: NodeProxySpec): Promise<NodeProxyStart> {
  if (!existsSync(spec.script)) {
    return { ok: false, reason: `${spec.script} not found: not built (npx tsc -p tsconfig.build.json)` };
  }
  const nodeArgs = [...spec.nodeArgs];
  if (spec.profileDir) {
    mkdirSync(spec.profileDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${spec.profileDir}`);
  }
  const argv = [...nodeArgs, spec.script, ...spec.args];
  const proxy = spawnTracked(spec.name, process.execPath, argv, { logPath: spec.logPath });
  try {
    await waitUntilReady(proxy, () => preflightCall(spec.listenPort, spec.body, 2000, spec.probeTls));
    return { ok: true, proxy, commandLine: `node ${argv.join(' ')}` };
  } catch (err) {
    await stopTracked(proxy);
    const tail = logTail(spec.logPath, 40);
    return { ok: false, reason: `${(err as Error).message}${tail ? `\n--- ${spec.logPath} (tail) ---\n${tail}` : ''}` };
  }
}

/**
 * Stops a proxy with SIGTERM and waits (up to 10 s) so that `--cpu-prof` can write its profile on exit, then lists
 * the .cpuprofile files in `profileDir`. A process that dies by SIGKILL writes no profile.
 */
export async function stopAndCollectProfiles(proxy: Tracked, profileDir: string): Promise<string[]> {
  await stopTracked(proxy, 10_000);
  if (!existsSync(profileDir)) return [];
  return readdirSync(profileDir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(profileDir, f));
}
