// SPDX-License-Identifier: Apache-2.0
// `npm run bench:alloc`: the bytes meshlet allocates per call, all of them (the young garbage a scavenge frees at
// once included), against the bare engine (h2-floor, bench/h2-floor.ts) measured in the same run, and optionally
// against another build (--meshlet-b). Each measurement is a fresh proxy process: warmed with the same load, then
// V8's sampling heap profiler runs (through the inspector, opened with SIGUSR1 as the heap probe does: no change to
// the product) while h2load sends --rate calls/s for --seconds. Bytes per call = the profile's bytes ÷ the calls
// that succeeded in that window. The largest allocation sites of meshlet's last round are printed.
// Options: --rounds N (3), --rate N total calls/s (1000), --seconds N (10), --top N (12), --meshlet-main FILE,
// --meshlet-b FILE.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { summarizeAllocations, type AllocationSite, type SamplingNode } from './alloc-profile.js';
import { startUpstream } from './app-process.js';
import { positiveInt } from './args.js';
import { grpcRequestFrame } from './grpc-wire.js';
import { runH2load } from './h2load.js';
import { INSPECT_PORT_FLAG, inspectProcess } from './heap-probe.js';
import { H2_FLOOR_MAIN, h2FloorArgs, MESHLET_MAIN, meshletArgs, startNodeProxy } from './node-proxy.js';
import { armWatchdog, freePort, installExitHandlers, stopAll, stopTracked } from './processes.js';
import { median } from './report.js';
import { findTool, missingToolsMessage } from './tools.js';
import { MESHLET_NODE_FLAGS } from '../src/node-flags.js';

const CLIENTS = 10;
const WARM_SECONDS = 2;
/** Bytes between samples: small enough that a 10 s run at 1,000 calls/s gets hundreds of thousands of samples. */
const SAMPLING_INTERVAL_BYTES = 512;

interface Options {
  rounds: number;
  rate: number;
  seconds: number;
  top: number;
  meshletMain: string;
  meshletB: string | undefined;
}

function parse(argv: readonly string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const positive = (name: string, fallback: number): number => positiveInt(name, value(name), fallback);
  return {
    rounds: positive('rounds', 3),
    rate: positive('rate', 1000),
    seconds: positive('seconds', 10),
    top: positive('top', 12),
    meshletMain: value('meshlet-main') ?? MESHLET_MAIN,
    meshletB: value('meshlet-b'),
  };
}

type PathName = 'h2-floor' | 'meshlet' | 'meshlet-b';

async function main(): Promise<number> {
  const options = parse(process.argv.slice(2));
  const h2load = findTool('h2load');
  if (h2load === undefined) {
    console.error(missingToolsMessage(['h2load']));
    return 2;
  }
  installExitHandlers();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-bench-alloc-'));
  const paths: PathName[] = ['h2-floor', 'meshlet', ...(options.meshletB !== undefined ? (['meshlet-b'] as const) : [])];
  armWatchdog(options.rounds * paths.length * (options.seconds + WARM_SECONDS + 30) + 60, workDir);
  console.log(
    `meshlet bench, allocations per call — ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, node ${process.version}\n` +
      `paths ${paths.join(', ')}; ${options.rounds} round(s); ${options.rate} calls/s over ${CLIENTS} connections for ` +
      `${options.seconds} s after ${WARM_SECONDS} s of warm-up; sampling every ${SAMPLING_INTERVAL_BYTES} B, GC'd objects included\n`,
  );
  const body = grpcRequestFrame(16);
  const bodyPath = path.join(workDir, 'unary.bin');
  writeFileSync(bodyPath, body);
  const h2loadDir = path.join(workDir, 'h2load');
  mkdirSync(h2loadDir);
  const upstream = await startUpstream(workDir, 'node-http2');
  const perCall = new Map<PathName, number[]>(paths.map((p) => [p, []]));
  let sites: AllocationSite[] = [];
  let seq = 0;
  try {
    for (let round = 1; round <= options.rounds; round++) {
      for (const p of paths) {
        const port = await freePort();
        const script = p === 'h2-floor' ? H2_FLOOR_MAIN : p === 'meshlet' ? options.meshletMain : (options.meshletB as string);
        const started = await startNodeProxy({
          name: p,
          script,
          args: p === 'h2-floor' ? h2FloorArgs(port, upstream.port) : meshletArgs(script, port, upstream.port, false, []),
          nodeArgs: [...(p === 'h2-floor' ? [] : MESHLET_NODE_FLAGS), INSPECT_PORT_FLAG],
          logPath: path.join(workDir, `${p}.log`),
          listenPort: port,
          body,
          profileDir: undefined,
        });
        if (!started.ok) throw new Error(`${p} did not start: ${started.reason}`);
        const load = (seconds: number) =>
          runH2load(
            { bin: h2load, port, bodyPath, clients: CLIENTS, streams: 1, seconds, rpsPerClient: Math.max(1, Math.round(options.rate / CLIENTS)), logPath: path.join(h2loadDir, `${++seq}-${p}.tsv`) },
            path.join(h2loadDir, `${seq}-${p}.out`),
          );
        try {
          await load(WARM_SECONDS);
          const cdp = await inspectProcess(started.proxy, 30_000);
          try {
            await cdp.send('HeapProfiler.enable');
            await cdp.send('HeapProfiler.startSampling', {
              samplingInterval: SAMPLING_INTERVAL_BYTES,
              includeObjectsCollectedByMinorGC: true,
              includeObjectsCollectedByMajorGC: true,
            });
            const result = await load(options.seconds);
            const { profile } = (await cdp.send('HeapProfiler.stopSampling')) as { profile: { head: SamplingNode } };
            const summary = summarizeAllocations(profile.head, options.top);
            if (result.succeeded === 0) throw new Error(`${p}: no call succeeded`);
            const bytes = summary.totalBytes / result.succeeded;
            perCall.get(p)?.push(bytes);
            if (p === 'meshlet') sites = summary.top.map((s) => ({ site: s.site, bytes: s.bytes / result.succeeded }));
            console.log(`round ${round}/${options.rounds} ${p.padEnd(9)} ${result.succeeded} calls  ${(bytes / 1024).toFixed(2)} KiB allocated per call`);
          } finally {
            cdp.close();
          }
        } finally {
          await stopTracked(started.proxy);
        }
      }
    }
  } finally {
    await stopAll();
  }

  const floor = median(perCall.get('h2-floor') ?? []);
  const mine = median(perCall.get('meshlet') ?? []);
  console.log('\nKiB allocated per call (median of the rounds; every round in brackets)');
  for (const p of paths) {
    const runs = perCall.get(p) ?? [];
    const m = median(runs);
    const vsFloor = p === 'h2-floor' ? '' : `  ${(m / floor).toFixed(2)}× h2-floor`;
    const vsMeshlet = p === 'meshlet-b' ? `  ${(m / mine).toFixed(3)}× meshlet (runs ${runs.map((r, i) => (r / (perCall.get('meshlet')?.[i] ?? NaN)).toFixed(3)).join(' ')})` : '';
    console.log(`${p.padEnd(9)} ${(m / 1024).toFixed(2)} [${runs.map((r) => (r / 1024).toFixed(2)).join(', ')}]${vsFloor}${vsMeshlet}`);
  }
  console.log(`\nmeshlet's largest allocation sites, last round (bytes per call; frame < caller < caller):`);
  for (const s of sites) console.log(`${String(Math.round(s.bytes)).padStart(6)}  ${s.site}`);
  rmSync(workDir, { recursive: true, force: true });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
