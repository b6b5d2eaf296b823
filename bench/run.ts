// SPDX-License-Identifier: Apache-2.0
// `npm run bench`: measures direct, node-floor, h2-floor, meshlet (and optionally meshlet+log, meshlet-b) and nginx
// paths to the same minimal gRPC upstream in one run with h2load, and prints CPU per call, peak req/s and latency,
// with ratios and the issue #2 targets, and the proxies' resident memory. `--suite mtls` runs bench/mtls.ts instead, `--suite ratelimit` bench/ratelimit.ts.
// Method: docs/performance.md.

import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startUpstream } from './app-process.js';
import { type BenchOptions, type PathName, parseBenchArgs, splitSuite, USAGE } from './args.js';
import { clockTicksPerSecond, treeCpuTicks } from './cpu.js';
import { grpcRequestFrame, preflightCall } from './grpc-wire.js';
import { type LoadSpec, runH2load } from './h2load.js';
import { readTreeMemory, type TreeMemory } from './memory.js';
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
import { armWatchdog, installExitHandlers, freePort, stopAll, type Tracked } from './processes.js';
import {
  evaluateTargets,
  formatMemoryTable,
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

/** A path under test: the port h2load targets and the proxy process whose CPU is charged to it. */
interface Target {
  path: PathName;
  port: number;
  proxy: Tracked | undefined;
}

/** Planned wall time of the measurements in seconds, for the watchdog and the banner. */
function plannedSeconds(options: BenchOptions): number {
  const seconds: Record<Scenario, number> = {
    'unary-rate': options.rateSeconds,
    'unary-peak': options.peakSeconds,
    'large-peak': options.largeSeconds,
  };
  const perRun = options.scenarios.reduce((n, s) => n + seconds[s], 0);
  return options.paths.length * (options.warmupSeconds + options.runs * perRun);
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
        `paths ${options.paths.join(', ')}; scenarios ${options.scenarios.join(', ')}; app ${options.app}; h2load -c ${options.clients} -m ${options.streams}; ` +
          `${options.runs} run(s); about ${Math.round(plannedSeconds(options))} s of load`,
        `load average ${load.map((l) => l.toFixed(2)).join(' ')}${load[0] !== undefined && load[0] > 0.5 ? '  (machine busy: numbers will be noisy)' : ''}`,
        `work dir ${workDir}`,
        '',
      ].join('\n'),
    );

    const upstream = await startUpstream(workDir, options.app);
    await preflightCall(upstream.port, unaryBody).catch((err: Error) => {
      throw new Error(`upstream does not answer the bench call: ${err.message}`);
    });

    const targets: Target[] = [];
    // Each proxy's tree memory right after its readiness call, before warm-up or any other path's load.
    const idleMemory = new Map<PathName, TreeMemory | undefined>();
    const recordIdle = (p: PathName, proxy: Tracked): string => {
      const memory = readTreeMemory(proxy.pid);
      idleMemory.set(p, memory);
      return memory ? ` (idle rss ${kibToMiB(memory.rssKiB).toFixed(1)} MiB)` : '';
    };
    const profiled: Array<{ name: string; proxy: Tracked; dir: string }> = [];
    for (const p of options.paths) {
      if (p === 'direct') {
        targets.push({ path: p, port: upstream.port, proxy: undefined });
        continue;
      }
      const port = await freePort();
      if (p === 'nginx') {
        if (!nginxBin) continue;
        const keepalive = options.clients * options.streams;
        const nginx = await startNginx(nginxBin, workDir, port, upstream.port, keepalive, unaryBody);
        const idle = recordIdle(p, nginx);
        console.log(`nginx ${nginxVersion(nginxBin)?.join('.') ?? '?'} serving on 127.0.0.1:${port}${idle}`);
        targets.push({ path: p, port, proxy: nginx });
        continue;
      }
      const profileSubdir = profileDir ? path.join(profileDir, p.replace('+', '-')) : undefined;
      const logPath = path.join(workDir, `${p.replace('+', '-')}.log`);
      const mainA = options.meshletMain ?? MESHLET_MAIN;
      const main = p === 'meshlet-b' ? (options.meshletBMain ?? mainA) : mainA;
      const started = await startNodeProxy({
        name: p,
        script: p === 'node-floor' ? NODE_FLOOR_MAIN : p === 'h2-floor' ? H2_FLOOR_MAIN : main,
        args:
          p === 'node-floor' ? nodeFloorArgs(port, upstream.port, options.floorArgs)
          : p === 'h2-floor' ? h2FloorArgs(port, upstream.port)
          : meshletArgs(main, port, upstream.port, p === 'meshlet+log' || (p === 'meshlet-b' && options.meshletBLog), options.meshletArgs),
        nodeArgs: p === 'meshlet-b' ? options.meshletBNodeArgs : [],
        logPath,
        listenPort: port,
        body: unaryBody,
        profileDir: profileSubdir,
      });
      if (!started.ok) {
        console.log(`SKIPPED ${p}: ${started.reason}`);
        continue;
      }
      const idle = recordIdle(p, started.proxy);
      console.log(`${p} serving on 127.0.0.1:${port}${idle}: ${started.commandLine}${p === 'meshlet+log' ? ` (access log → ${logPath})` : ''}`);
      targets.push({ path: p, port, proxy: started.proxy });
      if (profileSubdir) profiled.push({ name: p, proxy: started.proxy, dir: profileSubdir });
    }
    // Large messages must pass too before they are measured; a path that fails them is left out of that scenario.
    const largeOk = new Set<PathName>();
    if (options.scenarios.includes('large-peak')) {
      for (const t of targets) {
        try {
          await preflightCall(t.port, largeBody, 5000);
          largeOk.add(t.path);
        } catch (err) {
          console.log(`large-message scenario: ${t.path} fails a ${largeBody.length} B echo (${(err as Error).message}); skipped there`);
        }
      }
    }

    const ticksPerSecond = clockTicksPerSecond();
    const ticksToUs = (ticks: number): number => (ticks * 1e6) / ticksPerSecond;
    const h2loadDir = path.join(workDir, 'h2load');
    mkdirSync(h2loadDir);
    let seq = 0;
    const spec = (t: Target, scenario: Scenario | 'warmup'): LoadSpec => {
      const large = scenario === 'large-peak';
      return {
        bin: h2loadBin,
        port: t.port,
        bodyPath: large ? largeBodyPath : unaryBodyPath,
        clients: options.clients,
        streams: options.streams,
        seconds:
          scenario === 'unary-rate' ? options.rateSeconds
          : scenario === 'unary-peak' ? options.peakSeconds
          : scenario === 'large-peak' ? options.largeSeconds
          : options.warmupSeconds,
        rpsPerClient: scenario === 'unary-rate' ? Math.max(1, Math.round(options.rate / options.clients)) : undefined,
        logPath: path.join(h2loadDir, `${++seq}-${t.path}-${scenario}.tsv`),
      };
    };

    console.log(`\nwarm-up: ${options.warmupSeconds} s unlimited per path (not measured)`);
    for (const t of targets) {
      const s = spec(t, 'warmup');
      await runH2load(s, s.logPath.replace(/\.tsv$/, '.out'));
    }

    const samples: Sample[] = [];
    for (let run = 1; run <= options.runs; run++) {
      for (const scenario of options.scenarios) {
        // Paths interleave inside each run, so slow drift on the machine hits every path alike.
        for (const t of targets) {
          if (scenario === 'large-peak' && !largeOk.has(t.path)) continue;
          const s = spec(t, scenario);
          const proxyBefore = t.proxy ? treeCpuTicks(t.proxy.pid) : 0;
          const appBefore = treeCpuTicks(upstream.process.pid);
          const callsBefore = await upstream.calls();
          const result = await runH2load(s, s.logPath.replace(/\.tsv$/, '.out'));
          // First thing after the load ends, before the stats round trip gives the proxy time to shrink.
          const proxyMemory = t.proxy ? readTreeMemory(t.proxy.pid) : undefined;
          const callsAfter = await upstream.calls();
          const appAfter = treeCpuTicks(upstream.process.pid);
          const proxyAfter = t.proxy ? treeCpuTicks(t.proxy.pid) : 0;
          const sample: Sample = {
            scenario,
            path: t.path,
            run,
            load: result,
            appCalls: callsAfter - callsBefore,
            proxyCpuUs: t.proxy ? ticksToUs(proxyAfter - proxyBefore) : undefined,
            appCpuUs: ticksToUs(appAfter - appBefore),
            proxyMemory,
          };
          samples.push(sample);
          console.log(formatSampleLine(sample, options.runs));
          if (scenario === 'unary-rate' && result.reqPerSec < options.rate * 0.95) {
            console.log(`  note: ${t.path} did not sustain the offered ${options.rate} req/s`);
          }
        }
      }
    }

    const summaries = summarise(samples);
    const describe: Record<Scenario, string> = {
      'unary-rate': `${options.rate} req/s offered for ${options.rateSeconds} s, ${unaryBody.length} B request`,
      'unary-peak': `c=${options.clients} m=${options.streams} for ${options.peakSeconds} s, ${unaryBody.length} B request`,
      'large-peak': `c=${options.clients} m=${options.streams} for ${options.largeSeconds} s, ${largeBody.length} B each way`,
    };
    console.log(`\n${formatReport(summaries, describe, samples, options.meshletBLog ? 'meshlet+log' : 'meshlet')}`);
    console.log('\nCPU = utime+stime from /proc/<pid>/stat (whole process tree) per call that reached the app.');
    const memory = summariseMemory(samples, idleMemory);
    const memoryLines = formatMemoryTable(memory, options.runs);
    if (memoryLines.length > 0) console.log(`\n${memoryLines.join('\n')}`);
    if (!targets.some((t) => t.path === 'meshlet')) console.log('meshlet was not measured: targets are n/a.');
    const logged = targets.find((t) => t.path === 'meshlet+log');
    if (logged?.proxy) {
      const bytes = statSync(logged.proxy.logPath).size;
      console.log(`meshlet+log wrote ${(bytes / 1e6).toFixed(1)} MB of access log to ${logged.proxy.logPath}.`);
    }
    if (profileDir) console.log('The node processes ran under --cpu-prof: their CPU and req/s include the profiler overhead.');

    if (options.json) {
      // memory.idle and samples[].proxyMemory are in KiB, memory.summaries in MiB (NaN → null).
      const json = { options, ticksPerSecond, samples, summaries, memory: { idle: Object.fromEntries(idleMemory), summaries: memory } };
      writeFileSync(options.json, JSON.stringify(json, null, 2));
      console.log(`results written to ${options.json}`);
    }
    for (const { name, proxy, dir } of profiled) {
      const profiles = await stopAndCollectProfiles(proxy, dir);
      console.log(
        profiles.length > 0
          ? `${name} CPU profile(s): ${profiles.join(', ')} (open in Chrome DevTools > Performance, or speedscope)`
          : `no .cpuprofile in ${dir}: ${name} did not exit cleanly on SIGTERM, so node could not write it`,
      );
    }
    succeeded = true;
    return evaluateTargets(summaries).some((t) => t.verdict === 'FAIL') ? 1 : 0;
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
