// SPDX-License-Identifier: Apache-2.0
// Builds the real image from the unchanged Dockerfile with podman and runs it: `--help` without a network, the
// non-root UID, and a pod-like run of the default command (a sidecar in front of user-service on loopback).
// Offline from image registries: the Dockerfile's FROM image is a local stand-in (Debian bookworm minbase by
// debootstrap + this machine's Node 20 and npm, `podman import`ed under the exact FROM name), its rootfs cached in
// .cache/image/ (git-ignored) so reruns are fast; the build runs with --pull=never. npm in the build reaches the
// registry through the machine's CA bundle, mounted read-only at build time with an npmrc naming it: never in a
// layer. Sandbox quirks (measured here) go in a containers.conf: runc (crun fails on hybrid cgroups) and ulimits.
// Measured on this machine: see docs/kubernetes.md ("The image").

import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, cpSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unaryCall } from '../../examples/services/shared/grpc-client.js';
import { methodOf } from '../../examples/services/shared/proto.js';
import type { RunningServer } from '../../examples/services/shared/server.js';
import { startUserService } from '../../examples/services/user-service/server.js';
import { userServiceDefinition } from '../../examples/services/user-service/types.js';
import { MESHLET_NODE_FLAGS } from '../../src/node-flags.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const CACHE = join(ROOT, '.cache', 'image');
const ROOTFS = join(CACHE, 'rootfs-bookworm-minbase');
const TAG = 'localhost/meshlet:image-test';
const MINUTE = 60_000;

/** Why podman cannot run here, or undefined when it can. */
function podmanUnavailable(): string | undefined {
  if (spawnSync('podman', ['--version']).status !== 0) return 'podman is not installed (CI installs podman, runc, debootstrap, uidmap)';
  if (spawnSync('debootstrap', ['--version']).status !== 0 && !existsSync(join(ROOTFS, '.complete'))) return 'debootstrap is not installed';
  const info = spawnSync('podman', ['info'], { env: podmanEnv(), encoding: 'utf8' });
  if (info.status !== 0) return `podman cannot run here: ${info.stderr.trim().split('\n').pop() ?? ''}`;
  return undefined;
}

const work = mkdtempSync(join(tmpdir(), 'meshlet-image-'));
const CONTAINERS_CONF = join(work, 'containers.conf');
writeFileSync(
  CONTAINERS_CONF,
  '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n\n[engine]\nruntime = "runc"\n',
);
function podmanEnv(): NodeJS.ProcessEnv {
  return { ...process.env, CONTAINERS_CONF };
}
async function podman(args: string[], timeoutMs = 5 * MINUTE): Promise<{ stdout: string; stderr: string }> {
  return run('podman', args, { env: podmanEnv(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
}
/** Runs podman, resolving with its exit code and output (no throw on a non-zero exit). */
function podmanStatus(args: string[], timeoutMs = 2 * MINUTE): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile('podman', args, { env: podmanEnv(), timeout: timeoutMs }, (err, stdout, stderr) =>
      done({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }),
    );
  });
}

/** The FROM image names of the Dockerfile (every stage's base). */
function baseImages(): string[] {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  return [...new Set([...text.matchAll(/^FROM\s+(\S+)/gim)].map((m) => m[1] as string))];
}

/** Makes the stand-in for `name`: minbase bookworm (cached) + this machine's node and npm, imported into podman. */
async function standIn(name: string): Promise<void> {
  // `podman import` stores a short name under localhost/, where `image exists` must be asked.
  const stored = name.includes('/') ? name : `localhost/${name}`;
  if ((await podmanStatus(['image', 'exists', stored])).code === 0) return;
  if (!existsSync(join(ROOTFS, '.complete'))) {
    const tmp = `${ROOTFS}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(CACHE, { recursive: true });
    // The mirror apt itself uses on this machine (/etc/apt/sources.list.d/debian.sources).
    await run('debootstrap', ['--variant=minbase', 'bookworm', tmp, 'http://deb.debian.org/debian'], { timeout: 20 * MINUTE, maxBuffer: 64 * 1024 * 1024 });
    writeFileSync(join(tmp, '.complete'), 'debootstrap --variant=minbase bookworm\n');
    rmSync(ROOTFS, { recursive: true, force: true }); // an unfinished rootfs of an interrupted run
    renameSync(tmp, ROOTFS);
  }
  // The image's filesystem: the cached rootfs (device nodes left out: the runtime makes /dev) plus, from `extra`,
  // Node and npm where the official image has them (/usr/local). Streamed into podman import, never copied.
  const extra = join(work, 'node-layer');
  const node = process.execPath;
  // A dynamically linked node needs only libc, libstdc++, libgcc_s (all in minbase): checked by ldd.
  const ldd = await run('ldd', [node]);
  for (const lib of ldd.stdout.matchAll(/=>\s+(\S+)/g)) {
    const path = lib[1] as string;
    if (![join(ROOTFS, path), join(ROOTFS, 'usr', path)].some((p) => existsSync(p))) throw new Error(`the stand-in lacks ${path}, which ${node} needs`);
  }
  mkdirSync(join(extra, 'usr/local/bin'), { recursive: true });
  cpSync(node, join(extra, 'usr/local/bin/node'));
  const npmDir = resolve(node, '../../lib/node_modules/npm');
  if (!existsSync(npmDir)) throw new Error(`no npm at ${npmDir}`);
  cpSync(npmDir, join(extra, 'usr/local/lib/node_modules/npm'), { recursive: true, verbatimSymlinks: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(extra, 'usr/local/bin/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(extra, 'usr/local/bin/npx'));
  // Only paths minbase lacks (podman import refuses duplicate paths); /usr/local/{bin,lib} come from base-files.
  const NODE_FILES = ['./usr/local/bin/node', './usr/local/bin/npm', './usr/local/bin/npx', './usr/local/lib/node_modules'];
  await new Promise<void>((done, fail) => {
    const tar = spawn('tar', ['-c', '-C', ROOTFS, '--exclude=./dev/*', '--exclude=./.complete', '.', '-C', extra, ...NODE_FILES], { stdio: ['ignore', 'pipe', 'inherit'] });
    const imp = spawn('podman', ['import', '--change', 'CMD ["node"]', '-', name], { env: podmanEnv(), stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    imp.stderr.on('data', (c: Buffer) => (err += c.toString()));
    tar.stdout.pipe(imp.stdin);
    imp.on('close', (code) => (code === 0 ? done() : fail(new Error(`podman import ${name}: ${err}`))));
  });
  rmSync(extra, { recursive: true, force: true });
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}

const unavailable = podmanUnavailable();
if (unavailable !== undefined) process.stderr.write(`test/image: skipped: ${unavailable}\n`);

describe.skipIf(unavailable !== undefined)('the meshlet image', () => {
  const timings: Record<string, number> = {};
  const containers: string[] = [];

  beforeAll(async () => {
    const t0 = Date.now();
    for (const name of baseImages()) await standIn(name);
    timings['stand-in'] = Date.now() - t0;
    const npmrc = join(work, 'npmrc');
    const ca = '/etc/ssl/certs/ca-certificates.crt';
    writeFileSync(npmrc, existsSync(ca) ? `cafile=${ca}\n` : '');
    const t1 = Date.now();
    await podman(
      [
        'build', '--pull=never', '--network', 'host', '-f', 'Dockerfile', '-t', TAG,
        // Build-time only: the npmrc and the CA bundle are bind mounts of the RUN steps, never layer content.
        '--volume', `${npmrc}:/root/.npmrc:ro`,
        ...(existsSync(ca) ? ['--volume', `${ca}:${ca}:ro`] : []),
        '.',
      ],
      30 * MINUTE,
    ).catch((err: { stdout?: string; message: string }) => {
      throw new Error(`podman build failed: ${(err.message + (err.stdout ?? '')).slice(-6000)}`);
    });
    timings['build'] = Date.now() - t1;
  }, 45 * MINUTE);

  afterAll(async () => {
    for (const c of containers) await podmanStatus(['rm', '-f', '-t', '0', c]);
    rmSync(work, { recursive: true, force: true });
    process.stderr.write(`test/image timings (ms): ${JSON.stringify(timings)}\n`);
  }, 2 * MINUTE);

  it('prints --help without a network, as the non-root UID 4242', async () => {
    const help = await podman(['run', '--rm', '--network', 'none', TAG, '--help']);
    expect(help.stdout).toContain('meshlet run --config FILE');
    expect(help.stdout).toContain('meshlet injector --listen');
    const id = await podman(['run', '--rm', '--network', 'none', '--entrypoint', 'id', TAG]);
    expect(id.stdout.trim()).toMatch(/^uid=4242\(meshlet\) gid=4242\(meshlet\)/);
    // The commands loaded on demand resolve with the production dependencies only.
    const injector = await podmanStatus(['run', '--rm', '--network', 'none', TAG, 'injector']);
    expect(injector.code).toBe(2);
    expect(injector.stderr).toContain('--listen, --tls-cert and --tls-key are required');
  }, 5 * MINUTE);

  it('ships a valid default config for the default command, and leaves the CA bundle and npmrc out', async () => {
    const validate = await podmanStatus(['run', '--rm', '--network', 'none', TAG, 'validate', '/etc/meshlet/sidecar.yaml']);
    expect(validate.stdout + validate.stderr).toContain('/etc/meshlet/sidecar.yaml: ok');
    expect(validate.code).toBe(0);
    // Build-time mounts leave at most an empty mount point behind (buildah creates it), never their content.
    const files = await podman(['run', '--rm', '--network', 'none', '--user', '0', '--entrypoint', 'sh', TAG, '-c',
      'test -s /root/.npmrc && echo HAS-NPMRC; test -s /etc/ssl/certs/ca-certificates.crt && echo HAS-CA-BUNDLE; ' +
        'test -d /opt/meshlet/node_modules/typescript && echo HAS-DEV-DEPS; test -d /opt/meshlet/node_modules/pino && echo HAS-PINO; true']);
    expect(files.stdout.trim()).toBe('HAS-PINO');
  }, 5 * MINUTE);

  it('runs the default command as a sidecar in front of user-service on loopback (pod-like), as UID 4242', async () => {
    let app: RunningServer | undefined;
    let client: grpc.Client | undefined;
    try {
      app = await startUserService({ host: '127.0.0.1', port: 0 });
      const [inbound, admin] = [await freePort(), await freePort()];
      const config = join(work, 'sidecar.yaml');
      writeFileSync(
        config,
        `service: { name: user-service }\ninbound: { listen: 127.0.0.1:${inbound}, app: 127.0.0.1:${app.port} }\n` +
          `admin: { listen: 127.0.0.1:${admin} }\nshutdown: { drainTimeoutMs: 2000 }\n`,
      );
      // The documented mount: a ConfigMap over /etc/meshlet/sidecar.yaml; the default command is left as shipped.
      // As the injector runs it: read-only root filesystem, no capabilities, no privilege escalation.
      const started = await podman([
        'run', '-d', '--network', 'host', '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
        '-v', `${config}:/etc/meshlet/sidecar.yaml:ro`, TAG,
      ]);
      const id = started.stdout.trim();
      containers.push(id);
      // Ready once the sidecar's admin answers /ready (the app is up); bounded by the poll count, no fixed sleep.
      let ready = false;
      for (let i = 0; i < 300 && !ready; i++) {
        ready = await fetch(`http://127.0.0.1:${admin}/ready`).then((r) => r.ok, () => false);
        if (!ready) await new Promise((r) => setTimeout(r, 100));
      }
      const logs = await podmanStatus(['logs', id]);
      expect(ready, `sidecar never ready: ${logs.stdout}${logs.stderr}`).toBe(true);
      client = new grpc.Client(`127.0.0.1:${inbound}`, grpc.credentials.createInsecure());
      const getUser = methodOf<{ id: string }, { id: string; name: string }>(userServiceDefinition(), 'GetUser');
      const user = await unaryCall(client, getUser, { id: 'u-1' }, { deadline: Date.now() + 5000 });
      expect(user.id).toBe('u-1');
      const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
      expect(metrics).toMatch(/meshlet_[a-z_]+\{[^}]*direction="inbound"[^}]*\} [1-9]/);
      const top = await podman(['top', id, 'user', 'huser', 'args']);
      // The ENTRYPOINT's node flags (src/node-flags.ts) are on the sidecar's command line.
      const command = ['node', ...MESHLET_NODE_FLAGS, 'dist/src/main.js', 'run', '--config', '/etc/meshlet/sidecar.yaml'].join(' ');
      const escaped = command.replace(/[.*+?^$()|[\]\\/]/g, '\\$&');
      expect(top.stdout).toMatch(new RegExp('\\nmeshlet\\s+4242\\s+' + escaped));
      const stop = await podmanStatus(['stop', '-t', '10', id]);
      expect(stop.code).toBe(0);
      const exit = await podman(['inspect', '--format', '{{.State.ExitCode}}', id]);
      expect(exit.stdout.trim()).toBe('0'); // SIGTERM drained, a clean exit
    } finally {
      client?.close();
      await app?.close();
    }
  }, 5 * MINUTE);
});
