// SPDX-License-Identifier: Apache-2.0
// `npm run bench`: measures direct, node-floor, h2-floor, meshlet (and optionally meshlet+log, meshlet-b) and nginx
// paths to the same minimal gRPC upstream in one run with h2load, and prints CPU per call, peak req/s and latency,
// with ratios, issue #2's and issue #14's targets, and the proxies' memory (peak RSS through each run, heap after
// GC). By default every measurement runs on fresh proxy processes, so no figure depends on what ran before it. `--suite mtls` runs bench/mtls.ts instead, `--suite ratelimit` bench/ratelimit.ts.
// Method: docs/performance.md.

import { setTimeout as sleep } from 'node:timers/promises';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startUpstream } from './app-process.js';
import { type BenchOptions, type PathName, parseBenchArgs, splitSuite, USAGE } from './args.js';
import { clockTicksPerSecond, treeCpuTicks } from './cpu.js';
import { grpcRequestFrame, preflightCall } from './grpc-wire.js';
import { type LoadResult, type LoadSpec, runArrivals, runH2load } from './h2load.js';
import { type HeapProbe, INSPECT_PORT_FLAG, probeHeapAfterGc } from './heap-probe.js';
import { readTreeMemory, startRssSampler, type TreeMemory } from './memory.js';
import {
  H2_FLOOR_MAIN,
  h2FloorArgs,
  MESHLET_MAIN,
  meshletArgs,
  NODE_FLOOR_MAIN,
  nodeFloorArgs,
  startNodeProxy,
  stopAndCollectProfiles,
} from './node-proxy.js';
import { nginxVersion, startNginx } from './nginx.js';
import { armWatchdog, installExitHandlers, freePort, stopAll, stopTracked, type Tracked } from './processes.js';
import {
  evaluateIssue14Targets,
  evaluateTargets,
  formatIssue14Targets,
  formatMemoryTable,
  type IdleReading,
  formatReport,
  formatSampleLine,
  kibToMiB,
  type Sample,
  type Scenario,
  summarise,
  summariseMemory,
} from './report.js';
import { runMtlsSuite } from './mtls.js';
import { MTLS_USAGE, type MtlsOptions, parseMtlsArgs } from './mtls-args.js';
import { runRateLimitSuite } from './ratelimit.js';
import { parseRateLimitArgs, RATELIMIT_USAGE, type RateLimitOptions } from './ratelimit-args.js';
import { GRPC_WEB_USAGE, type GrpcWebBenchOptions, parseGrpcWebArgs, runGrpcWebSuite } from './grpc-web.js';
import { runAbuseSuite } from './abuse.js';
import { ABUSE_USAGE, type AbuseOptions, parseAbuseArgs } from './abuse-args.js';
import { findTool, missingToolsMessage, type ToolName, toolVersion } from './tools.js';
import { MESHLET_NODE_FLAGS } from '../src/node-flags.js';

/** A path under test: the port h2load targets and the proxy process whose CPU is charged to it. */
interface Target {
  path: PathName;
  port: number;
  proxy: Tracked | undefined;
  /** A node process (meshlet*, node-floor, h2-floor), whose heap the inspector can read. */
  node: boolean;
}

/** Planned wall time of the measurements in seconds, for the watchdog and the banner. */
function plannedSeconds(options: BenchOptions): number {
  const seconds: Record<Scenario, number> = {
    'unary-low': options.rateSeconds,
    'unary-rate': options.rateSeconds,
    'unary-spread': options.rateSeconds,
    'unary-peak': options.peakSeconds,
    'large-peak': options.largeSeconds,
  };
  const perRun = options.scenarios.reduce((n, s) => n + seconds[s], 0);
  // Every path is started once first and left idle to read its settled memory (direct has no proxy to read).
  const idle = options.paths.filter((p) => p !== 'direct').length * options.idleSettleSeconds;
  if (options.shareProcess) return idle + options.paths.length * (options.warmupSeconds + options.runs * perRun);
  // Fresh processes: a warm-up and about 2 s of start, readiness and stop per measurement.
  return idle + options.paths.length * options.runs * (perRun + options.scenarios.length * (options.warmupSeconds + 2));
}

async function main(argv: readonly string[]): Promise<number> {
  let parsed: BenchOptions | MtlsOptions | RateLimitOptions | GrpcWebBenchOptions | AbuseOptions | 'help';
  let usage = USAGE;
  try {
    const { suite, rest } = splitSuite(argv);
    if (suite === 'mtls') usage = MTLS_USAGE;
    if (suite === 'ratelimit') usage = RATELIMIT_USAGE;
    if (suite === 'grpc-web') usage = GRPC_WEB_USAGE;
    if (suite === 'abuse') usage = ABUSE_USAGE;
    parsed =
      suite === 'abuse'
        ? parseAbuseArgs(rest)
        : suite === 'mtls'
        ? parseMtlsArgs(rest)
        : suite === 'ratelimit'
          ? parseRateLimitArgs(rest)
          : suite === 'grpc-web'
            ? parseGrpcWebArgs(rest)
            : parseBenchArgs(rest);
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  if (parsed === 'help') {
    console.log(usage);
    return 0;
  }
  if ('suite' in parsed) {
    if (parsed.suite === 'grpc-web') return runGrpcWebSuite(parsed);
    if (parsed.suite === 'abuse') return runAbuseSuite(parsed);
    return parsed.suite === 'mtls' ? runMtlsSuite(parsed) : runRateLimitSuite(parsed);
  }
  const options = parsed;

  const needed: ToolName[] = ['h2load', ...(options.paths.includes('nginx') ? (['nginx'] as const) : [])];
  const bins = new Map(needed.map((t) => [t, findTool(t)]));
  const missing = needed.filter((t) => bins.get(t) === undefined);
  if (missing.length > 0) {
    console.error(missingToolsMessage(missing));
    return 2;
  }
  const h2loadBin = bins.get('h2load') as string;
  const nginxBin = bins.get('nginx');

  installExitHandlers();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-bench-'));
  const profileDir = options.profile ? path.join(os.tmpdir(), `meshlet-bench-profile-${Date.now()}`) : undefined;
  let succeeded = false;
  // Watchdog: the planned time plus generous start/stop slack; a hung path must not hold the machine.
  const watchdog = armWatchdog(plannedSeconds(options) * 1.5 + 120, workDir);

  try {
    const unaryBody = grpcRequestFrame(options.payloadBytes);
    const largeBody = grpcRequestFrame(options.largeBytes);
    const unaryBodyPath = path.join(workDir, 'unary.bin');
    const largeBodyPath = path.join(workDir, 'large.bin');
    writeFileSync(unaryBodyPath, unaryBody);
    writeFileSync(largeBodyPath, largeBody);
    const cpus = os.cpus();
    const load = os.loadavg();
    console.log(
      [
        `meshlet bench — ${cpus.length} × ${cpus[0]?.model ?? '?'}, ${os.platform()} ${os.release()}`,
        `node ${process.version}; ${toolVersion(h2loadBin, ['--version'])}; ${nginxBin ? toolVersion(nginxBin, ['-v']) : 'nginx not used'}`,
        `paths ${options.paths.join(', ')}; scenarios ${options.scenarios.join(', ')}; app ${options.app}${options.appWindowBytes !== undefined ? ` (connection window ${options.appWindowBytes} B)` : ''}${options.appMaxStreams !== undefined ? ` (max ${options.appMaxStreams} streams per connection)` : ''}; h2load -c ${options.clients} -m ${options.streams}; ` +
          `${options.runs} run(s); about ${Math.round(plannedSeconds(options))} s`,
        options.shareProcess
          ? 'processes: one per path through every scenario and run (--shared-process): a figure carries what ran before it'
          : 'processes: fresh proxies for every measurement, warmed with that scenario\'s load (--shared-process: one per path)',
        `load average ${load.map((l) => l.toFixed(2)).join(' ')}${load[0] !== undefined && load[0] > 0.5 ? '  (machine busy: numbers will be noisy)' : ''}`,
        `work dir ${workDir}`,
        '',
      ].join('\n'),
    );

    const upstream = await startUpstream(workDir, options.app, options.appWindowBytes, options.appMaxStreams);
    await preflightCall(upstream.port, unaryBody).catch((err: Error) => {
      throw new Error(`upstream does not answer the bench call: ${err.message}`);
    });

    const profiles = new Map<PathName, string[]>();
    /** Starts one path's proxy and waits until it serves a correct call; undefined (and says why) when it cannot. */
    const startPath = async (p: PathName, announce: boolean): Promise<Target | undefined> => {
      if (p === 'direct') return { path: p, port: upstream.port, proxy: undefined, node: false };
      const port = await freePort();
      if (p === 'nginx') {
        if (!nginxBin) return undefined;
        const keepalive = options.clients * options.streams;
        const nginx = await startNginx(nginxBin, workDir, port, upstream.port, keepalive, unaryBody);
        if (announce) console.log(`nginx ${nginxVersion(nginxBin)?.join('.') ?? '?'} serving on 127.0.0.1:${port}`);
        return { path: p, port, proxy: nginx, node: false };
      }
      const profileSubdir = profileDir ? path.join(profileDir, p.replace('+', '-')) : undefined;
      const logPath = path.join(workDir, `${p.replace('+', '-')}.log`);
      const mainA = options.meshletMain ?? MESHLET_MAIN;
      const main = p === 'meshlet-b' ? (options.meshletBMain ?? mainA) : mainA;
      // --inspect-port only sets where SIGUSR1 opens the inspector: nothing listens until the heap probe sends it.
      const inspect = options.heapProbe ? [INSPECT_PORT_FLAG] : [];
      const started = await startNodeProxy({
        name: p,
        script: p === 'node-floor' ? NODE_FLOOR_MAIN : p === 'h2-floor' ? H2_FLOOR_MAIN : main,
        args:
          p === 'node-floor' ? nodeFloorArgs(port, upstream.port, options.floorArgs)
          : p === 'h2-floor' ? h2FloorArgs(port, upstream.port)
          : meshletArgs(main, port, upstream.port, p === 'meshlet+log' || (p === 'meshlet-b' && options.meshletBLog), options.meshletArgs),
        // meshlet runs with the flags it ships with (src/node-flags.ts); meshlet-b's own flags come after them, so
        // they win (for example --meshlet-b-node-arg=--max-semi-space-size=16 for V8's default young generation).
        nodeArgs: [
          ...(p === 'meshlet' || p === 'meshlet+log' || p === 'meshlet-b' ? MESHLET_NODE_FLAGS : []),
          ...(p === 'meshlet-b' ? options.meshletBNodeArgs : []),
          ...inspect,
        ],
        logPath,
        listenPort: port,
        body: unaryBody,
        profileDir: profileSubdir,
      });
      if (!started.ok) {
        console.log(`SKIPPED ${p}: ${started.reason}`);
        return undefined;
      }
      if (announce) {
        console.log(`${p} serving on 127.0.0.1:${port}: ${started.commandLine}${p === 'meshlet+log' ? ` (access log → ${logPath})` : ''}`);
      }
      return { path: p, port, proxy: started.proxy, node: true };
    };
    const stopPath = async (t: Target): Promise<void> => {
      if (!t.proxy) return;
      if (profileDir && t.node) {
        const found = await stopAndCollectProfiles(t.proxy, path.join(profileDir, t.path.replace('+', '-')));
        profiles.set(t.path, found);
      } else {
        await stopTracked(t.proxy);
      }
    };
    const probeHeap = async (t: Target): Promise<HeapProbe | undefined> => {
      if (!options.heapProbe || !t.node || !t.proxy) return undefined;
      return probeHeapAfterGc(t.proxy).catch((err: Error) => {
        console.log(`  note: no heap reading from ${t.path}: ${err.message}`);
        return undefined;
      });
    };

    // Every path once: readiness, idle memory, the large-message check. Fresh mode stops it again after reading its
    // idle heap; --shared-process keeps it for every measurement (and reads no idle heap: the inspector would stay on).
    const idle: IdleReading[] = [];
    const available: PathName[] = [];
    const shared = new Map<PathName, Target>();
    const largeOk = new Set<PathName>();
    for (const p of options.paths) {
      const t = await startPath(p, true);
      if (!t) continue;
      available.push(p);
      if (t.proxy) {
        const memory = readTreeMemory(t.proxy.pid);
        // Read again once the idle process has settled (before the heap probe, whose full GC would shrink it).
        let settled: TreeMemory | undefined;
        if (options.idleSettleSeconds > 0) {
          await sleep(options.idleSettleSeconds * 1000);
          settled = readTreeMemory(t.proxy.pid);
        }
        const heap = options.shareProcess ? undefined : (await probeHeap(t))?.afterGc;
        idle.push({ path: p, memory, settled, heap });
        const mib = (n: number): string => (n / 1024).toFixed(1);
        console.log(
          `  ${p} idle: rss ${memory ? mib(memory.rssKiB) : '-'} MiB` +
            (settled ? `, ${mib(settled.rssKiB)} MiB after ${options.idleSettleSeconds} s idle` : '') +
            (heap ? `, heap after GC ${(heap.heapUsed / 2 ** 20).toFixed(1)} MiB` : ''),
        );
      }
      // Large messages must pass too before they are measured; a path that fails them is left out of that scenario.
      if (options.scenarios.includes('large-peak')) {
        try {
          await preflightCall(t.port, largeBody, 5000);
          largeOk.add(p);
        } catch (err) {
          console.log(`large-message scenario: ${p} fails a ${largeBody.length} B echo (${(err as Error).message}); skipped there`);
        }
      }
      if (options.shareProcess) shared.set(p, t);
      else await stopPath(t);
    }

    const ticksPerSecond = clockTicksPerSecond();
    const ticksToUs = (ticks: number): number => (ticks * 1e6) / ticksPerSecond;
    const h2loadDir = path.join(workDir, 'h2load');
    mkdirSync(h2loadDir);
    let seq = 0;
    /** unary-rate and unary-spread: the same offered load (`--rate`), in bursts or spread out. */
    const atRate = (scenario: Scenario | 'warmup'): boolean => scenario === 'unary-rate' || scenario === 'unary-spread';
    const rpsFor = (scenario: Scenario | 'warmup'): number | undefined =>
      atRate(scenario) ? Math.max(1, Math.round(options.rate / options.clients))
      : scenario === 'unary-low' ? Math.max(1, Math.round(options.lowRate / options.clients))
      : undefined;
    const spec = (t: Target, scenario: Scenario | 'warmup', warmup = false): LoadSpec => {
      const large = scenario === 'large-peak';
      return {
        bin: h2loadBin,
        port: t.port,
        bodyPath: large ? largeBodyPath : unaryBodyPath,
        clients: options.clients,
        streams: options.streams,
        seconds:
          warmup || scenario === 'warmup' ? options.warmupSeconds
          : atRate(scenario) || scenario === 'unary-low' ? options.rateSeconds
          : scenario === 'unary-peak' ? options.peakSeconds
          : options.largeSeconds,
        rpsPerClient: rpsFor(scenario),
        logPath: path.join(h2loadDir, `${++seq}-${t.path}-${scenario}${warmup ? '-warmup' : ''}.tsv`),
      };
    };
    const offered = (scenario: Scenario): number | undefined =>
      atRate(scenario) ? options.rate : scenario === 'unary-low' ? options.lowRate : undefined;
    /** One h2load (or, for unary-spread, one per connection) for a spec, to its end. */
    const runLoad = async (scenario: Scenario, s: LoadSpec): Promise<LoadResult> => {
      const { clustered: _clustered, ...result } = await runArrivals(s, s.logPath.replace(/\.tsv$/, '.out'), scenario === 'unary-spread' ? 'spread' : 'burst');
      return result;
    };

    const samples: Sample[] = [];
    /**
     * One measurement on a running, warmed path: CPU, calls, RSS sampled through it, then (when `probe`) the heap
     * before and after a full GC.
     */
    const measure = async (t: Target, scenario: Scenario, run: number, idleMemory: TreeMemory | undefined, probe: boolean): Promise<void> => {
      const s = spec(t, scenario);
      const proxyBefore = t.proxy ? treeCpuTicks(t.proxy.pid) : 0;
      const appBefore = treeCpuTicks(upstream.process.pid);
      const callsBefore = await upstream.calls();
      const sampler = t.proxy ? startRssSampler(t.proxy.pid) : undefined;
      const result = await runLoad(scenario, s);
      const rssTrace = sampler?.stop();
      // First thing after the load ends, before the stats round trip gives the proxy time to shrink.
      const proxyMemory = t.proxy ? readTreeMemory(t.proxy.pid) : undefined;
      const callsAfter = await upstream.calls();
      const appAfter = treeCpuTicks(upstream.process.pid);
      const proxyAfter = t.proxy ? treeCpuTicks(t.proxy.pid) : 0;
      // After the CPU is read: the GC and the inspector's own work are not charged to the measurement.
      const heap = probe ? await probeHeap(t) : undefined;
      const sample: Sample = {
        scenario,
        path: t.path,
        run,
        load: result,
        appCalls: callsAfter - callsBefore,
        proxyCpuUs: t.proxy ? ticksToUs(proxyAfter - proxyBefore) : undefined,
        appCpuUs: ticksToUs(appAfter - appBefore),
        proxyMemory,
        rssTrace,
        idleMemory,
        heap: heap?.afterGc,
        heapBeforeGc: heap?.beforeGc,
      };
      samples.push(sample);
      console.log(formatSampleLine(sample, options.runs));
      const rate = offered(scenario);
      if (rate !== undefined && result.reqPerSec < rate * 0.95) {
        console.log(`  note: ${t.path} did not sustain the offered ${rate} req/s`);
      }
    };

    if (options.shareProcess) {
      console.log(`\nwarm-up: ${options.warmupSeconds} s unlimited per path (not measured)`);
      for (const t of shared.values()) {
        const s = spec(t, 'warmup');
        await runH2load(s, s.logPath.replace(/\.tsv$/, '.out'));
      }
    } else {
      console.log(`\nevery measurement: fresh processes, ${options.warmupSeconds} s of the scenario's own load as warm-up (not measured)`);
    }
    for (let run = 1; run <= options.runs; run++) {
      for (const scenario of options.scenarios) {
        // Paths interleave inside each run, so slow drift on the machine hits every path alike.
        for (const p of available) {
          if (scenario === 'large-peak' && !largeOk.has(p)) continue;
          if (options.shareProcess) {
            // A probe forces a full GC, which would reset the very state a shared process carries from one
            // scenario to the next: a shared process is probed once, after its last measurement.
            const last = run === options.runs && scenario === options.scenarios.filter((sc) => sc !== 'large-peak' || largeOk.has(p)).at(-1);
            await measure(shared.get(p) as Target, scenario, run, undefined, last);
            continue;
          }
          const t = await startPath(p, false);
          if (!t) continue;
          try {
            const idleMemory = t.proxy ? readTreeMemory(t.proxy.pid) : undefined;
            await runLoad(scenario, spec(t, scenario, true));
            await measure(t, scenario, run, idleMemory, true);
          } finally {
            await stopPath(t);
          }
        }
      }
    }

    const summaries = summarise(samples);
    const describe: Record<Scenario, string> = {
      'unary-low': `${options.lowRate} req/s offered for ${options.rateSeconds} s, ${unaryBody.length} B request`,
      'unary-rate': `${options.rate} req/s offered for ${options.rateSeconds} s, ${unaryBody.length} B request`,
      'unary-spread':
        `${options.rate} req/s offered for ${options.rateSeconds} s, ${unaryBody.length} B request, from ${options.clients} ` +
        `h2load processes (-c 1) started ${(1000 / options.rate).toFixed(2)} ms apart`,
      'unary-peak': `c=${options.clients} m=${options.streams} for ${options.peakSeconds} s, ${unaryBody.length} B request`,
      'large-peak': `c=${options.clients} m=${options.streams} for ${options.largeSeconds} s, ${largeBody.length} B each way`,
    };
    console.log(`\n${formatReport(summaries, describe, samples, options.meshletBLog ? 'meshlet+log' : 'meshlet')}`);
    console.log('\nCPU = utime+stime from /proc/<pid>/stat (whole process tree) per call that reached the app.');
    const memory = summariseMemory(samples, idle);
    const memoryLines = formatMemoryTable(memory, options.runs);
    if (memoryLines.length > 0) console.log(`\n${memoryLines.join('\n')}`);
    const issue14 = evaluateIssue14Targets(summaries, memory, { rate: options.rate, lowRate: options.lowRate });
    console.log(`\n${formatIssue14Targets(issue14).join('\n')}`);
    if (options.shareProcess) console.log('note: --shared-process: each figure depends on the scenarios that ran before it in the same process.');
    if (!available.includes('meshlet')) console.log('meshlet was not measured: targets are n/a.');
    if (options.paths.includes('meshlet+log') && available.includes('meshlet+log')) {
      const logPath = path.join(workDir, 'meshlet-log.log');
      console.log(`meshlet+log wrote ${(statSync(logPath).size / 1e6).toFixed(1)} MB of access log to ${logPath}.`);
    }
    if (profileDir) console.log('The node processes ran under --cpu-prof: their CPU and req/s include the profiler overhead.');

    if (options.json) {
      // memory.idle and samples[].proxyMemory/idleMemory/rssTrace are in KiB, heap readings in bytes, memory.summaries
      // in MiB (NaN → null).
      const json = { options, ticksPerSecond, samples, summaries, memory: { idle, summaries: memory }, issue14 };
      writeFileSync(options.json, JSON.stringify(json, null, 2));
      console.log(`results written to ${options.json}`);
    }
    for (const t of shared.values()) await stopPath(t);
    if (profileDir) {
      for (const [name, found] of profiles) {
        console.log(
          found.length > 0
            ? `${name} CPU profile(s): ${found.join(', ')} (open in Chrome DevTools > Performance, or speedscope)`
            : `no .cpuprofile for ${name}: it did not exit cleanly on SIGTERM, so node could not write it`,
        );
      }
    }
    succeeded = true;
    const failed = [...evaluateTargets(summaries), ...issue14].some((t) => t.verdict === 'FAIL');
    return failed ? 1 : 0;
  } finally {
    clearTimeout(watchdog);
    await stopAll();
    if (succeeded && !options.keep) rmSync(workDir, { recursive: true, force: true });
    else console.error(`work dir kept: ${workDir}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
