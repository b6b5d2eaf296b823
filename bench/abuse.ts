// SPDX-License-Identifier: Apache-2.0
// `npm run bench -- --suite abuse`: what an abusive client does to a well-behaved one on the same sidecar (issue 14,
// "Bounded under abuse"). One `meshlet proxy` (access log off) in front of the bench app. In each mode, h2load offers
// a fixed rate of small unary calls for a fixed time while bench/abuse-client.ts, in its own process, either floods
// the sidecar with streams or holds as many streams open as it is allowed; the quiet mode has no abuser and is the
// baseline measured in the same run. Modes take turns within each run. The sidecar's RSS is sampled every 100 ms
// during each measurement (its peak is reported), and its CPU over the measurement.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AbuseCounts } from './abuse-client.js';
import type { AbuseMode, AbuseOptions } from './abuse-args.js';
import { startUpstream } from './app-process.js';
import { clockTicksPerSecond, treeCpuTicks } from './cpu.js';
import { grpcRequestFrame, preflightCall } from './grpc-wire.js';
import { type LoadResult, runArrivals } from './h2load.js';
import { readTreeMemory } from './memory.js';
import { MESHLET_MAIN, meshletArgs, startNodeProxy } from './node-proxy.js';
import { armWatchdog, delay, freePort, installExitHandlers, spawnTracked, stopAll, stopTracked } from './processes.js';
import { median } from './report.js';
import { findTool, missingToolsMessage, toolVersion } from './tools.js';
import { MESHLET_NODE_FLAGS } from '../src/node-flags.js';

const ABUSE_CLIENT = fileURLToPath(new URL('./abuse-client.js', import.meta.url));
/** The abuser gets this long to build up before the well-behaved client is measured. */
const ABUSE_LEAD_MS = 1000;

export interface AbuseSample {
  mode: AbuseMode;
  run: number;
  load: LoadResult;
  /** Share of the well-behaved client's calls that started within 100 µs of the one before, when measured. */
  clustered?: number;
  /** Sidecar CPU over the measurement, % of one core. */
  cpuPercent: number;
  /** Largest sidecar VmRSS sampled during the measurement, MiB. */
  peakRssMiB: number;
  /** What the abuser saw; undefined in quiet mode. */
  abuser: AbuseCounts | undefined;
}

export function plannedAbuseSeconds(o: AbuseOptions): number {
  return o.modes.length * o.runs * (o.seconds + ABUSE_LEAD_MS / 1000 + 1) + 2;
}

export async function runAbuseSuite(options: AbuseOptions): Promise<number> {
  const h2loadBin = findTool('h2load');
  if (h2loadBin === undefined) {
    console.error(missingToolsMessage(['h2load']));
    return 2;
  }
  const main = options.meshletMain ?? MESHLET_MAIN;
  installExitHandlers();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-bench-abuse-'));
  const watchdog = armWatchdog(plannedAbuseSeconds(options) * 1.5 + 120, workDir);
  let succeeded = false;
  try {
    const cpus = os.cpus();
    const load = os.loadavg();
    console.log(
      [
        `meshlet bench, abuse suite — ${cpus.length} × ${cpus[0]?.model ?? '?'}, ${os.platform()} ${os.release()}`,
        `node ${process.version}; ${toolVersion(h2loadBin, ['--version'])}`,
        `modes ${options.modes.join(', ')}; well-behaved client: ${options.rate} calls/s over ${options.clients} connection(s), ${options.arrivals} arrivals; ` +
          `flood ${options.floodStreams} streams per connection; hold ${options.holdConnections} connections; ${options.runs} run(s) of ${options.seconds} s`,
        `load average ${load.map((l) => l.toFixed(2)).join(' ')}${load[0] !== undefined && load[0] > 0.5 ? '  (machine busy: numbers will be noisy)' : ''}`,
        `work dir ${workDir}`,
        '',
      ].join('\n'),
    );
    const body = grpcRequestFrame(16);
    const bodyPath = path.join(workDir, 'unary.bin');
    writeFileSync(bodyPath, body);
    const upstream = await startUpstream(workDir, 'node-http2');
    await preflightCall(upstream.port, body);
    const port = await freePort();
    const started = await startNodeProxy({
      name: 'meshlet',
      script: main,
      args: meshletArgs(main, port, upstream.port, false, []),
      nodeArgs: MESHLET_NODE_FLAGS,
      logPath: path.join(workDir, 'meshlet.log'),
      listenPort: port,
      body,
      profileDir: undefined,
    });
    if (!started.ok) {
      console.error(`bench: meshlet did not start: ${started.reason}`);
      return 1;
    }
    console.log(`meshlet: ${started.commandLine}`);
    const sidecar = started.proxy;
    const h2loadDir = path.join(workDir, 'h2load');
    mkdirSync(h2loadDir);
    const ticksToPercent = (ticks: number, seconds: number): number => (100 * ticks) / clockTicksPerSecond() / seconds;

    const samples: AbuseSample[] = [];
    let seq = 0;
    for (let run = 1; run <= options.runs; run++) {
      for (const mode of options.modes) {
        const label = `${++seq}-${mode}-run${run}`;
        const abuser =
          mode === 'quiet'
            ? undefined
            : spawnTracked(
                `abuser-${mode}`,
                process.execPath,
                [ABUSE_CLIENT, mode, String(port), String(mode === 'flood' ? options.floodStreams : options.holdConnections)],
                { logPath: path.join(workDir, `${label}-abuser.log`) },
              );
        if (abuser !== undefined) await delay(ABUSE_LEAD_MS);
        let peakKiB = readTreeMemory(sidecar.pid)?.rssKiB ?? 0;
        const sampler = setInterval(() => {
          peakKiB = Math.max(peakKiB, readTreeMemory(sidecar.pid)?.rssKiB ?? 0);
        }, 100);
        const cpuBefore = treeCpuTicks(sidecar.pid);
        const t0 = performance.now();
        let result: LoadResult & { clustered: number };
        try {
          result = await runArrivals(
            {
              bin: h2loadBin,
              port,
              bodyPath,
              clients: options.clients,
              streams: 1,
              seconds: options.seconds,
              rpsPerClient: Math.max(1, Math.round(options.rate / options.clients)),
              logPath: path.join(h2loadDir, `${label}.tsv`),
            },
            path.join(h2loadDir, `${label}.out`),
            options.arrivals,
          );
        } finally {
          clearInterval(sampler);
        }
        const seconds = (performance.now() - t0) / 1000;
        const cpuPercent = ticksToPercent(treeCpuTicks(sidecar.pid) - cpuBefore, seconds);
        let counts: AbuseCounts | undefined;
        if (abuser !== undefined) {
          await stopTracked(abuser);
          counts = parseAbuserReport(readFileSync(abuser.logPath, 'utf8'));
        }
        const sample: AbuseSample = { mode, run, load: result, clustered: result.clustered, cpuPercent, peakRssMiB: peakKiB / 1024, abuser: counts };
        samples.push(sample);
        console.log(formatAbuseSampleLine(sample, options.runs));
        if (sidecar.hasExited()) throw new Error(`meshlet exited during ${mode}: see ${sidecar.logPath}`);
      }
    }
    const report = formatAbuseReport(samples, options.p99LimitMs);
    console.log(`\n${report.text}`);
    succeeded = true;
    return report.failed ? 1 : 0;
  } finally {
    clearTimeout(watchdog);
    await stopAll();
    if (succeeded) rmSync(workDir, { recursive: true, force: true });
    else console.log(`work dir kept: ${workDir}`);
  }
}

/** The abuser's last JSON line; undefined when it printed none (it died). Pure. */
export function parseAbuserReport(output: string): AbuseCounts | undefined {
  const lines = output.trim().split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      const v = JSON.parse(line) as Partial<AbuseCounts>;
      if (typeof v.connections === 'number' && typeof v.streams === 'number') return v as AbuseCounts;
    } catch {
      // not the report line
    }
  }
  return undefined;
}

export function formatAbuseSampleLine(s: AbuseSample, runs: number): string {
  const a = s.abuser;
  return (
    `run ${s.run}/${runs}  ${s.mode.padEnd(5)}  ${s.load.succeeded} ok ${s.load.failed + s.load.errored + s.load.timeout} failed  ` +
    `p50 ${(s.load.p50Us / 1000).toFixed(2)} ms  p99 ${(s.load.p99Us / 1000).toFixed(2)} ms  ` +
    (s.clustered === undefined ? '' : `clustered ${s.clustered.toFixed(2)}  `) +
    `sidecar ${s.cpuPercent.toFixed(0)} % CPU, peak RSS ${s.peakRssMiB.toFixed(1)} MiB` +
    (a === undefined ? '' : `  abuser: ${a.connections} connections, ${a.streams} streams, ${a.resets} RST_STREAM, ${a.goaways} GOAWAY`)
  );
}

/**
 * Medians per mode, p99 as a ratio to quiet (when measured), and one PASS/FAIL line per abusive mode: p99 of the
 * well-behaved client under `limitMs`, and no failed call. Pure.
 */
export function formatAbuseReport(samples: readonly AbuseSample[], limitMs: number): { text: string; failed: boolean } {
  const modes = [...new Set(samples.map((s) => s.mode))];
  const of = (m: AbuseMode): AbuseSample[] => samples.filter((s) => s.mode === m);
  const med = (m: AbuseMode, f: (s: AbuseSample) => number): number => median(of(m).map(f));
  const quietP99 = modes.includes('quiet') ? med('quiet', (s) => s.load.p99Us) : undefined;
  const failures = (s: AbuseSample): number => s.load.failed + s.load.errored + s.load.timeout;
  const lines = [
    'Well-behaved client beside each abuse (median of runs)',
    'mode   calls ok  failed  p50 ms  p99 ms  p99 ×quiet  sidecar CPU %  sidecar peak RSS MiB  p99 per run (ms)',
  ];
  for (const m of modes) {
    const p99 = med(m, (s) => s.load.p99Us);
    lines.push(
      `${m.padEnd(5)}  ${med(m, (s) => s.load.succeeded).toFixed(0).padStart(8)}  ${med(m, failures).toFixed(0).padStart(6)}  ` +
        `${(med(m, (s) => s.load.p50Us) / 1000).toFixed(2).padStart(6)}  ${(p99 / 1000).toFixed(2).padStart(6)}  ` +
        `${quietP99 === undefined ? 'n/a' : `${(p99 / quietP99).toFixed(2)}×`}`.padStart(10) +
        `${med(m, (s) => s.cpuPercent).toFixed(0).padStart(15)}  ${med(m, (s) => s.peakRssMiB).toFixed(1).padStart(20)}  ` +
        of(m)
          .map((s) => (s.load.p99Us / 1000).toFixed(1))
          .join(', '),
    );
  }
  lines.push('', `target (issue 14): beside each abuse, the well-behaved client's p99 < ${limitMs} ms and no call fails`);
  let failed = false;
  for (const m of modes) {
    if (m === 'quiet') continue;
    const p99Ms = med(m, (s) => s.load.p99Us) / 1000;
    const failedCalls = of(m).reduce((n, s) => n + failures(s), 0);
    const ok = p99Ms < limitMs && failedCalls === 0;
    if (!ok) failed = true;
    lines.push(`  ${m.padEnd(5)}  p99 ${p99Ms.toFixed(2)} ms, ${failedCalls} failed call(s)  ${ok ? 'PASS' : 'FAIL'}`);
  }
  return { text: lines.join('\n'), failed };
}
