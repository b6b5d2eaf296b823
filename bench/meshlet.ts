// SPDX-License-Identifier: Apache-2.0
// The meshlet path of the benchmark: starts the built CLI in quick mode (`meshlet proxy --listen --upstream`),
// optionally under `node --cpu-prof`, or explains why it cannot.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { preflightCall } from './grpc-wire.js';
import { logTail, spawnTracked, stopTracked, type Tracked, waitUntilReady } from './processes.js';

/** dist/src/main.js, next to this file's dist/bench/ directory. */
export const MESHLET_MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));

export type MeshletStart = { ok: true; meshlet: Tracked; commandLine: string } | { ok: false; reason: string };

/**
 * nginx runs with `access_log off`, so meshlet runs without its access log too when its CLI offers
 * `--no-access-log` (asked through `--help`, because the CLI is still changing).
 */
function fairnessArgs(): string[] {
  const help = spawnSync(process.execPath, [MESHLET_MAIN, '--help'], { encoding: 'utf8', timeout: 10_000 });
  return `${help.stdout ?? ''}`.includes('--no-access-log') ? ['--no-access-log'] : [];
}

export interface MeshletOptions {
  workDir: string;
  listenPort: number;
  upstreamPort: number;
  /** The bench request body, for the readiness call. */
  body: Buffer;
  /** When set, run under `node --cpu-prof --cpu-prof-dir=<profileDir>`. */
  profileDir: string | undefined;
  /** Appended to the command line. */
  extraArgs: readonly string[];
}

/**
 * Starts `node dist/src/main.js proxy --listen 127.0.0.1:<listenPort> --upstream 127.0.0.1:<upstreamPort>` and
 * waits until a gRPC call through it succeeds. Never throws: when the CLI is not built yet, exits, or does not
 * serve correctly within 15 s, resolves `{ ok: false, reason }` so the bench can go on without it.
 */
export async function startMeshlet(options: MeshletOptions): Promise<MeshletStart> {
  if (!existsSync(MESHLET_MAIN)) {
    return { ok: false, reason: `${MESHLET_MAIN} not found: meshlet's CLI (src/main.ts) is not built or not written yet` };
  }
  const nodeArgs: string[] = [];
  if (options.profileDir) {
    mkdirSync(options.profileDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`);
  }
  const args = [
    ...nodeArgs,
    MESHLET_MAIN,
    'proxy',
    '--listen',
    `127.0.0.1:${options.listenPort}`,
    '--upstream',
    `127.0.0.1:${options.upstreamPort}`,
    ...fairnessArgs(),
    ...options.extraArgs,
  ];
  const logPath = path.join(options.workDir, 'meshlet.log');
  const meshlet = spawnTracked('meshlet', process.execPath, args, { logPath });
  try {
    await waitUntilReady(meshlet, () => preflightCall(options.listenPort, options.body));
    return { ok: true, meshlet, commandLine: `node ${args.join(' ')}` };
  } catch (err) {
    await stopTracked(meshlet);
    const tail = logTail(logPath, 40);
    return { ok: false, reason: `${(err as Error).message}${tail ? `\n--- ${logPath} (tail) ---\n${tail}` : ''}` };
  }
}

/**
 * Stops meshlet with SIGTERM and waits (up to 10 s) so that `--cpu-prof` can write its profile on exit, then lists
 * the .cpuprofile files in `profileDir`. A meshlet that dies by SIGKILL writes no profile.
 */
export async function stopMeshletAndCollectProfiles(meshlet: Tracked, profileDir: string): Promise<string[]> {
  await stopTracked(meshlet, 10_000);
  if (!existsSync(profileDir)) return [];
  return readdirSync(profileDir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(profileDir, f));
}
