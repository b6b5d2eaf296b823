// SPDX-License-Identifier: Apache-2.0
// `npm run bench:modules`: the resident memory each part of a sidecar adds once settled. Each step is a fresh
// `node` (with the sidecar's flags, src/node-flags.ts) that imports the modules of every step up to it and then
// reads its RSS after V8's memory-reducing collection (bench/settled-rss.ts), so young-generation growth during
// loading is not counted; a step's cost is its median minus the previous step's. The last rows are the sidecar
// itself (`meshlet proxy`, quick mode, no calls) read the same way once it listens, and with --validate also
// without any help after --settle-seconds of idleness, which is how the main bench reads "idle, settled".
// Options: --starts N (5, per row, rows alternating), --settle-seconds N (20), --validate, --meshlet-main FILE,
// --node-arg=FLAG (repeatable: a node flag for every row, after the sidecar's own, e.g. to see what a V8 flag changes).

import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { positiveInt } from './args.js';
import { MESHLET_MAIN } from './node-proxy.js';
import { armWatchdog, delay, freePort, installExitHandlers, logTail, spawnTracked, stopTracked, type Tracked } from './processes.js';
import { median } from './report.js';
import { rssKiB } from './settled-rss.js';
import { MESHLET_NODE_FLAGS } from '../src/node-flags.js';

const CHILD = fileURLToPath(new URL('./module-rss-child.js', import.meta.url));

/** Cumulative: each step loads its own modules on top of every step above it. Paths are relative to dist/bench/. */
const STEPS: readonly { name: string; imports: readonly string[] }[] = [
  { name: 'node with node:inspector (the baseline)', imports: [] },
  {
    name: 'node built-ins a sidecar uses (net, tls, http, crypto, stream, fs/promises, perf_hooks, worker_threads)',
    imports: ['node:net', 'node:tls', 'node:http', 'node:crypto', 'node:stream', 'node:fs/promises', 'node:perf_hooks', 'node:worker_threads'],
  },
  { name: "meshlet's HTTP/2 engine and client pool (src/h2/)", imports: ['../src/h2/connection.js', '../src/h2/session-pool.js'] },
  { name: 'pino (src/telemetry/logger.ts)', imports: ['../src/telemetry/logger.js'] },
  { name: 'prom-client (src/telemetry/metrics.ts)', imports: ['../src/telemetry/metrics.js'] },
  { name: 'zod', imports: ['zod'] },
  { name: "meshlet's config schemas (src/config/schema.ts)", imports: ['../src/config/schema.js'] },
  { name: 'yaml and the config load pipeline (src/config/load.ts)', imports: ['../src/config/load.js'] },
  { name: "the rest of meshlet's statically imported modules (src/app.ts, the CLI's quick mode)", imports: ['../src/app.js', '../src/cli/startup.js', '../src/config/quick-mode.js'] },
];

interface Options {
  starts: number;
  settleSeconds: number;
  validate: boolean;
  meshletMain: string;
  nodeArgs: string[];
}

function parse(argv: readonly string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    starts: positiveInt('starts', value('starts'), 5),
    settleSeconds: positiveInt('settle-seconds', value('settle-seconds'), 20),
    validate: argv.includes('--validate'),
    meshletMain: value('meshlet-main') ?? MESHLET_MAIN,
    nodeArgs: argv.filter((a) => a.startsWith('--node-arg=')).map((a) => a.slice('--node-arg='.length)),
  };
}

type Reading = { rssKiB: number; pauseMs: number } | { error: string };

/** The first IPC message of `tracked`, or why there was none. */
async function reading(tracked: Tracked): Promise<{ rssKiB: number; pauseMs: number }> {
  const message = await Promise.race([
    once(tracked.child, 'message').then(([m]) => m as Reading),
    tracked.exited.then((code): Reading => ({ error: `exited (${String(code)}) before reporting` })),
  ]);
  if ('error' in message) throw new Error(`${tracked.name}: ${message.error}\n${logTail(tracked.logPath)}`);
  return message;
}

/** Settled RSS (KiB) of a node that imported the modules of steps 0..step. */
async function measureStep(options: Options, step: number, start: number, workDir: string): Promise<number> {
  const imports = STEPS.slice(0, step + 1).flatMap((s) => s.imports);
  const child = spawnTracked(`step ${step}`, process.execPath, [...MESHLET_NODE_FLAGS, ...options.nodeArgs, CHILD, ...imports], {
    logPath: path.join(workDir, `step-${step}-${start}.log`),
    ipc: true,
  });
  try {
    return (await reading(child)).rssKiB;
  } finally {
    await stopTracked(child, 1000);
  }
}

let sidecarStarts = 0;

/** `meshlet proxy` in quick mode (its app port closed: no calls), until its log (one per start) says it listens. */
async function startSidecar(options: Options, workDir: string, name: string, preload: boolean): Promise<Tracked> {
  const args = [
    ...MESHLET_NODE_FLAGS,
    ...options.nodeArgs,
    ...(preload ? ['--import', CHILD] : []),
    options.meshletMain,
    'proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${await freePort()}`,
    '--no-access-log', '--admin', '127.0.0.1:0',
  ];
  const sidecar = spawnTracked(name, process.execPath, args, { logPath: path.join(workDir, `${name}-${++sidecarStarts}.log`), ipc: preload });
  for (let wait = 20; !logTail(sidecar.logPath, 50).includes('meshlet listening'); wait = Math.min(wait * 2, 200)) {
    if (sidecar.hasExited()) throw new Error(`${name} exited before it listened:\n${logTail(sidecar.logPath)}`);
    await delay(wait);
  }
  return sidecar;
}

/** The sidecar's settled RSS (KiB) read through the preload, once it listens. */
async function measureSidecar(options: Options, workDir: string): Promise<number> {
  const sidecar = await startSidecar(options, workDir, 'sidecar', true);
  try {
    sidecar.child.send('measure');
    return (await reading(sidecar)).rssKiB;
  } finally {
    await stopTracked(sidecar, 1000);
  }
}

/** The sidecar's RSS (KiB) after --settle-seconds of idleness, with nothing preloaded. */
async function measureSidecarUnaided(options: Options, workDir: string): Promise<number> {
  const sidecar = await startSidecar(options, workDir, 'sidecar-unaided', false);
  try {
    await delay(options.settleSeconds * 1000);
    return rssKiB(sidecar.pid);
  } finally {
    await stopTracked(sidecar, 1000);
  }
}

const mib = (kib: number): string => (kib / 1024).toFixed(1);

async function main(): Promise<number> {
  const options = parse(process.argv.slice(2));
  installExitHandlers();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-bench-modules-'));
  const rows = STEPS.length + 1 + (options.validate ? 1 : 0);
  armWatchdog(options.starts * (rows * 15 + (options.validate ? options.settleSeconds : 0)) + 60, workDir);
  console.log(
    `meshlet bench, settled RSS by module — ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, node ${process.version}, ` +
      `flags ${[...MESHLET_NODE_FLAGS, ...options.nodeArgs].join(' ')}\n${options.starts} start(s) per row, rows alternating\n`,
  );
  const samples: number[][] = Array.from({ length: rows }, () => []);
  for (let start = 1; start <= options.starts; start++) {
    for (let step = 0; step < STEPS.length; step++) samples[step]!.push(await measureStep(options, step, start, workDir));
    samples[STEPS.length]!.push(await measureSidecar(options, workDir));
    if (options.validate) samples[STEPS.length + 1]!.push(await measureSidecarUnaided(options, workDir));
    console.log(`start ${start}/${options.starts}: ${samples.map((s) => mib(s[s.length - 1]!)).join(' ')} MiB`);
  }
  const names = [
    ...STEPS.map((s) => s.name),
    '`meshlet proxy`, quick mode, listening, no calls',
    ...(options.validate ? [`the same, unaided: VmRSS after ${options.settleSeconds} s of idleness`] : []),
  ];
  console.log('\nrow  RSS settled, MiB: median (lowest…highest)   added over the row above   what is loaded');
  let previous: number | undefined;
  samples.forEach((values, i) => {
    const m = median(values);
    const added = previous === undefined || i > STEPS.length ? '' : `${m >= previous ? '+' : '−'}${mib(Math.abs(m - previous))}`;
    console.log(
      `${String(i).padStart(3)}  ${mib(m).padStart(5)} (${mib(Math.min(...values))}…${mib(Math.max(...values))})`.padEnd(47) +
        added.padStart(8) + `                  ${names[i]}`,
    );
    if (i < STEPS.length) previous = m;
  });
  rmSync(workDir, { recursive: true, force: true });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.stack ?? err.message : String(err));
    process.exit(1);
  },
);
