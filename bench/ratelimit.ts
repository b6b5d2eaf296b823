// SPDX-License-Identifier: Apache-2.0
// `npm run bench -- --suite ratelimit`: what a rate limit costs per call. Three inbound sidecars (`meshlet run`,
// access log off) in front of the same app, at the same fixed offered rate: without a limit, with a local limit,
// and with a global limit leasing from a redis-server started here. The limit's rate is twice the offered load, so
// every call is admitted and what is measured is the check itself (and, for global, its leases). Prints per-call
// sidecar CPU and p99 per path, and their ratios to the path without limits. Numbers are medians over the runs.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startUpstream } from './app-process.js';
import { clockTicksPerSecond, treeCpuTicks } from './cpu.js';
import { grpcRequestFrame, preflightCall } from './grpc-wire.js';
import { type Arrivals, ARRIVALS, type LoadResult, type LoadSpec, runArrivals, runH2load } from './h2load.js';
import { MESHLET_MAIN, startNodeProxy } from './node-proxy.js';
import { armWatchdog, freePort, installExitHandlers, spawnTracked, stopAll, type Tracked, waitUntilReady } from './processes.js';
import type { RateLimitOptions, RateLimitPath } from './ratelimit-args.js';
import { median } from './report.js';
import { findTool, missingToolsMessage, toolVersion } from './tools.js';
import { MESHLET_NODE_FLAGS } from '../src/node-flags.js';

interface Sample {
  path: RateLimitPath;
  run: number;
  arrivals: Arrivals;
  /** Share of calls that started within 100 µs of the one before (bench/h2load.ts clusteredShare). */
  clustered: number;
  load: LoadResult;
  cpuUsPerCall: number;
  redisCpuUsPerCall: number | undefined;
}

export function plannedRateLimitSeconds(o: RateLimitOptions): number {
  return o.paths.length * (o.warmupSeconds + o.runs * o.arrivals.length * o.seconds);
}

/** The policy of one path: a limit admitting twice the offered rate on every call, or none. */
function policyYaml(p: RateLimitPath, rate: number): string {
  if (p === 'none') return 'routes: []\n';
  const limit = 2 * rate;
  return [
    'rateLimits:',
    '  - name: bench',
    `    rate: ${limit}/s`,
    `    burst: ${limit}`,
    ...(p === 'global' ? ['    scope: global'] : []),
    '',
  ].join('\n');
}

export async function runRateLimitSuite(options: RateLimitOptions): Promise<number> {
  const h2loadBin = findTool('h2load');
  if (h2loadBin === undefined) {
    console.error(missingToolsMessage(['h2load']));
    return 2;
  }
  const wantRedis = options.paths.includes('global');
  const redisBin = wantRedis ? spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim() : '';
  if (wantRedis && redisBin === '') {
    console.error('bench: the global path needs redis-server (Debian/Ubuntu: apt-get install redis-server), or run with --only none,local');
    return 2;
  }
  const main = options.meshletMain ?? MESHLET_MAIN;
  installExitHandlers();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-bench-ratelimit-'));
  const watchdog = armWatchdog(plannedRateLimitSeconds(options) * 1.5 + 120, workDir);
  let succeeded = false;
  try {
    const cpus = os.cpus();
    const load = os.loadavg();
    console.log(
      [
        `meshlet bench, rate-limit suite — ${cpus.length} × ${cpus[0]?.model ?? '?'}, ${os.platform()} ${os.release()}`,
        `node ${process.version}; ${toolVersion(h2loadBin, ['--version'])}; ${wantRedis ? toolVersion(redisBin, ['--version']) : 'redis not used'}`,
        `paths ${options.paths.join(', ')}; ${options.rate} calls/s offered (limit ${2 * options.rate}/s); h2load -c ${options.clients} -m ${options.streams}; ` +
          `arrivals ${options.arrivals.join(', ')}; ` +
          `${options.runs} run(s); about ${Math.round(plannedRateLimitSeconds(options))} s of load`,
        `load average ${load.map((l) => l.toFixed(2)).join(' ')}${load[0] !== undefined && load[0] > 0.5 ? '  (machine busy: numbers will be noisy)' : ''}`,
        `work dir ${workDir}`,
        '',
      ].join('\n'),
    );
    const body = grpcRequestFrame(options.payloadBytes);
    const bodyPath = path.join(workDir, 'unary.bin');
    writeFileSync(bodyPath, body);
    const upstream = await startUpstream(workDir, 'node-http2');
    await preflightCall(upstream.port, body);

    let redis: Tracked | undefined;
    let redisPort = 0;
    if (wantRedis) {
      redisPort = await freePort();
      const dir = path.join(workDir, 'redis');
      mkdirSync(dir);
      redis = spawnTracked('redis', redisBin, ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], {
        logPath: path.join(workDir, 'redis.log'),
      });
      await waitUntilReady(redis, async () => {
        const r = spawnSync('redis-cli', ['-p', String(redisPort), 'PING'], { encoding: 'utf8' });
        if (r.stdout.trim() !== 'PONG') throw new Error(`redis-cli PING: ${r.stdout}${r.stderr}`);
      });
      console.log(`redis-server on 127.0.0.1:${redisPort}`);
    }

    const targets: Array<{ path: RateLimitPath; port: number; proc: Tracked }> = [];
    for (const p of options.paths) {
      const port = await freePort();
      const policyFile = path.join(workDir, `${p}-policy.yaml`);
      writeFileSync(policyFile, policyYaml(p, options.rate));
      const configFile = path.join(workDir, `${p}.yaml`);
      writeFileSync(
        configFile,
        [
          `service: { name: bench-${p} }`,
          `inbound: { listen: "127.0.0.1:${port}", app: "127.0.0.1:${upstream.port}" }`,
          'admin: { listen: "127.0.0.1:0" }',
          'log: { level: warn, accessLog: false }',
          `policy: { file: "${policyFile}" }`,
          ...(p === 'global' ? [`redis: { address: "127.0.0.1:${redisPort}" }`] : []),
          '',
        ].join('\n'),
      );
      const started = await startNodeProxy({ name: `meshlet-${p}`, script: main, args: ['run', '--config', configFile], nodeArgs: MESHLET_NODE_FLAGS, logPath: path.join(workDir, `${p}.log`), listenPort: port, body, profileDir: undefined });
      if (!started.ok) {
        console.log(`SKIPPED ${p}: ${started.reason}`);
        continue;
      }
      console.log(`${p}: ${started.commandLine}`);
      targets.push({ path: p, port, proc: started.proxy });
    }

    const ticksToUs = (ticks: number): number => (ticks * 1e6) / clockTicksPerSecond();
    const h2loadDir = path.join(workDir, 'h2load');
    mkdirSync(h2loadDir);
    let seq = 0;
    const spec = (port: number, p: RateLimitPath, seconds: number, label: string): LoadSpec => ({
      bin: h2loadBin,
      port,
      bodyPath,
      clients: options.clients,
      streams: options.streams,
      seconds,
      rpsPerClient: Math.max(1, Math.round(options.rate / options.clients)),
      logPath: path.join(h2loadDir, `${++seq}-${p}-${label}.tsv`),
    });
    console.log(`\nwarm-up: ${options.warmupSeconds} s per path (not measured)`);
    for (const t of targets) {
      const s = spec(t.port, t.path, options.warmupSeconds, 'warmup');
      await runH2load(s, s.logPath.replace(/\.tsv$/, '.out'));
    }
    const samples: Sample[] = [];
    for (let run = 1; run <= options.runs; run++) {
      // Paths interleave inside each run, so slow drift on the machine hits every path alike.
      for (const arrivals of options.arrivals) {
        for (const t of targets) {
          const s = spec(t.port, t.path, options.seconds, `run${run}-${arrivals}`);
          const before = treeCpuTicks(t.proc.pid);
          const redisBefore = redis === undefined ? 0 : treeCpuTicks(redis.pid);
          const result = await runArrivals(s, s.logPath.replace(/\.tsv$/, '.out'), arrivals);
          const cpuUs = ticksToUs(treeCpuTicks(t.proc.pid) - before);
          const redisUs = redis === undefined ? 0 : ticksToUs(treeCpuTicks(redis.pid) - redisBefore);
          const calls = Math.max(1, result.succeeded);
          const sample: Sample = {
            path: t.path,
            run,
            arrivals,
            clustered: result.clustered,
            load: result,
            cpuUsPerCall: cpuUs / calls,
            redisCpuUsPerCall: t.path === 'global' ? redisUs / calls : undefined,
          };
          samples.push(sample);
          console.log(
            `run ${run}/${options.runs}  ${t.path.padEnd(6)}  ${arrivals.padEnd(6)}  ${result.reqPerSec.toFixed(0)} calls/s  ${result.succeeded} ok ${result.failed + result.errored} failed  ` +
              `clustered ${result.clustered.toFixed(2)}  sidecar ${sample.cpuUsPerCall.toFixed(1)} µs CPU/call  p99 ${(result.p99Us / 1000).toFixed(2)} ms` +
              (sample.redisCpuUsPerCall === undefined ? '' : `  redis ${sample.redisCpuUsPerCall.toFixed(2)} µs CPU/call`),
          );
        }
      }
    }
    console.log(`\n${formatRateLimitReport(samples)}`);
    succeeded = true;
    return 0;
  } finally {
    clearTimeout(watchdog);
    await stopAll();
    if (succeeded) rmSync(workDir, { recursive: true, force: true });
    else console.log(`work dir kept: ${workDir}`);
  }
}

/** Per arrival pattern: the medians per path and their ratios to `none` in the same pattern (when measured). Pure. */
export function formatRateLimitReport(samples: readonly Sample[]): string {
  const lines: string[] = [];
  for (const arrivals of ARRIVALS) {
    const group = samples.filter((s) => s.arrivals === arrivals);
    if (group.length === 0) continue;
    const paths = [...new Set(group.map((s) => s.path))];
    const med = (p: RateLimitPath, f: (s: Sample) => number) => median(group.filter((s) => s.path === p).map(f));
    const base = paths.includes('none') ? { cpu: med('none', (s) => s.cpuUsPerCall), p99: med('none', (s) => s.load.p99Us) } : undefined;
    if (lines.length > 0) lines.push('');
    lines.push(`${arrivals} arrivals (clustered ${median(group.map((s) => s.clustered)).toFixed(2)})`);
    lines.push('path    sidecar µs CPU/call   p99 ms    CPU vs none   p99 vs none   redis µs CPU/call');
    for (const p of paths) {
      const cpu = med(p, (s) => s.cpuUsPerCall);
      const p99 = med(p, (s) => s.load.p99Us);
      const redis = p === 'global' ? med(p, (s) => s.redisCpuUsPerCall ?? 0).toFixed(2) : '';
      lines.push(
        `${p.padEnd(8)}${cpu.toFixed(1).padStart(19)}   ${(p99 / 1000).toFixed(2).padStart(6)}   ` +
          `${base === undefined ? 'n/a' : `${(cpu / base.cpu).toFixed(3)}×`}`.padStart(11) +
          `${base === undefined ? 'n/a' : `${(p99 / base.p99).toFixed(3)}×`}`.padStart(14) +
          `   ${redis}`,
      );
    }
  }
  return lines.join('\n');
}
