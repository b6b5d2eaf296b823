// SPDX-License-Identifier: Apache-2.0
// `npm run bench -- --suite grpc-web` (issue 16): meshlet's CPU per call for a gRPC-Web unary call (binary, over
// HTTP/1.1 and over HTTP/2) against a native gRPC call, through one quick-mode meshlet with gRPC-Web on, at a fixed
// rate from h2load (`--h1` for HTTP/1.1). Reported as µs of meshlet CPU per call and as ratios to native.
// Method: docs/performance.md, "gRPC-Web".

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startUpstream } from './app-process.js';
import { intFlag } from './args.js';
import { clockTicksPerSecond, treeCpuTicks } from './cpu.js';
import { grpcRequestFrame, preflightCall } from './grpc-wire.js';
import { type Arrivals, arrivalsFlag, h2loadArgs, type LoadSpec, runArrivals } from './h2load.js';
import { MESHLET_MAIN, meshletArgs, startNodeProxy } from './node-proxy.js';
import { armWatchdog, freePort, installExitHandlers, stopAll } from './processes.js';
import { findTool, missingToolsMessage } from './tools.js';
import { MESHLET_NODE_FLAGS } from '../src/node-flags.js';

/** The three call shapes, in turn order within a run. */
export const WEB_VARIANTS = ['native-h2', 'grpc-web-h2', 'grpc-web-h1'] as const;
export type WebVariant = (typeof WEB_VARIANTS)[number];

export interface GrpcWebBenchOptions {
  suite: 'grpc-web';
  /** Repetitions; the report gives the median and every run. Default 3 (`--quick`: 1). Range 1-15. */
  runs: number;
  /** Measurement per variant per run, seconds. Default 10 (`--quick`: 3). */
  seconds: number;
  /** Offered calls/s across all connections. Default 1000. */
  rate: number;
  /** Connections; one call in flight per connection (HTTP/1.1 has no multiplexing), the same for every variant. Default 10. */
  clients: number;
  /** Protobuf payload of the request, bytes. Default 16. */
  payloadBytes: number;
  /**
   * How the calls arrive (`--arrivals`): `burst` = one h2load, whose connections fire together; `spread` = one h2load
   * per connection, started 1/rate apart (bench/h2load.ts). Default burst.
   */
  arrivals: Arrivals;
}

export const GRPC_WEB_USAGE = `npm run bench -- --suite grpc-web [--quick] [--runs N] [--seconds S] [--rate R] [--clients C] [--payload BYTES] [--arrivals A]
  meshlet CPU per call: gRPC-Web unary (binary; HTTP/1.1 and HTTP/2) vs native gRPC, through one meshlet proxy
  --quick        1 run of 3 s per variant (a smoke run)
  --runs N       repetitions, median reported (default 3)
  --seconds S    measurement per variant per run (default 10)
  --rate R       offered calls/s in total (default 1000)
  --clients C    h2load connections, one call in flight each (default 10)
  --payload B    request payload bytes (default 16)
  --arrivals A   burst (one h2load, default) or spread (one h2load per connection, started 1/rate apart)`;

/** Parses the suite's flags; 'help' for --help. Throws on a bad value. */
export function parseGrpcWebArgs(argv: readonly string[]): GrpcWebBenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      help: { type: 'boolean' },
      quick: { type: 'boolean' },
      runs: { type: 'string' },
      seconds: { type: 'string' },
      rate: { type: 'string' },
      clients: { type: 'string' },
      payload: { type: 'string' },
      arrivals: { type: 'string' },
    },
    strict: true,
  });
  if (values.help === true) return 'help';
  const quick = values.quick === true;
  return {
    suite: 'grpc-web',
    runs: intFlag('runs', values.runs, quick ? 1 : 3, 1, 15),
    seconds: intFlag('seconds', values.seconds, quick ? 3 : 10, 1, 600),
    rate: intFlag('rate', values.rate, 1000, 1, 1_000_000),
    clients: intFlag('clients', values.clients, 10, 1, 1000),
    payloadBytes: intFlag('payload', values.payload, 16, 0, 4 << 20),
    arrivals: arrivalsFlag(values.arrivals as string | undefined),
  };
}

/** h2load arguments for `variant`: the default suite's command line with the content type and protocol changed. */
export function variantArgs(variant: WebVariant, spec: LoadSpec): string[] {
  const args = h2loadArgs(spec);
  if (variant === 'native-h2') return args;
  const out = args
    .filter((a) => a !== '--header=te: trailers')
    .map((a) => (a === '--header=content-type: application/grpc' ? '--header=content-type: application/grpc-web+proto' : a));
  out.splice(out.length - 1, 0, '--header=x-grpc-web: 1');
  if (variant === 'grpc-web-h1') out.unshift('--h1');
  return out;
}


/** Median of a non-empty list. */
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

export async function runGrpcWebSuite(options: GrpcWebBenchOptions): Promise<number> {
  const h2load = findTool('h2load');
  if (h2load === undefined) {
    console.error(missingToolsMessage(['h2load']));
    return 2;
  }
  installExitHandlers();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-bench-grpc-web-'));
  const watchdog = armWatchdog(options.runs * WEB_VARIANTS.length * (options.seconds + 2) * 1.5 + 120, workDir);
  let ok = false;
  try {
    const cpus = os.cpus();
    console.log(`meshlet bench, gRPC-Web suite — ${cpus.length} × ${cpus[0]?.model ?? '?'}, node ${process.version}`);
    const body = grpcRequestFrame(options.payloadBytes);
    const bodyPath = path.join(workDir, 'unary.bin');
    writeFileSync(bodyPath, body);
    const upstream = await startUpstream(workDir, 'node-http2');
    await preflightCall(upstream.port, body);
    const port = await freePort();
    const started = await startNodeProxy({
      name: 'meshlet-grpc-web',
      script: MESHLET_MAIN,
      args: meshletArgs(MESHLET_MAIN, port, upstream.port, false, ['--grpc-web-origin', '*']),
      nodeArgs: MESHLET_NODE_FLAGS,
      logPath: path.join(workDir, 'meshlet.log'),
      listenPort: port,
      body,
      profileDir: undefined,
      probeTls: undefined,
    });
    if (!started.ok) throw new Error(`meshlet did not start: ${started.reason}`);
    console.log(`meshlet serving on 127.0.0.1:${port}: ${started.commandLine}`);
    const ticksToUs = (ticks: number): number => (ticks * 1e6) / clockTicksPerSecond();
    const perCall = new Map<WebVariant, number[]>(WEB_VARIANTS.map((v) => [v, []]));
    const measure = async (variant: WebVariant, seconds: number, tag: string) => {
      const spec: LoadSpec = {
        bin: h2load,
        port,
        bodyPath,
        clients: options.clients,
        streams: 1,
        seconds,
        rpsPerClient: Math.max(1, Math.round(options.rate / options.clients)),
        logPath: path.join(workDir, `${variant}-${tag}.log`),
      };
      const outPath = path.join(workDir, `${variant}-${tag}.out`);
      const cpuBefore = treeCpuTicks(started.proxy.pid);
      const callsBefore = await upstream.calls();
      const result = await runArrivals(spec, outPath, options.arrivals, (s) => variantArgs(variant, s));
      const callsAfter = await upstream.calls();
      const cpuAfter = treeCpuTicks(started.proxy.pid);
      if (result.failed + result.errored > 0) throw new Error(`${variant}: ${result.failed} failed, ${result.errored} errored calls`);
      const calls = callsAfter - callsBefore;
      const us = ticksToUs(cpuAfter - cpuBefore) / Math.max(1, calls);
      const { p50Us, p99Us, clustered } = result;
      return { calls, us, reqPerSec: result.reqPerSec, p50Us, p99Us, clustered };
    };
    for (const v of WEB_VARIANTS) await measure(v, 1, 'warmup');
    for (let run = 1; run <= options.runs; run++) {
      for (const v of WEB_VARIANTS) {
        const r = await measure(v, options.seconds, `run${run}`);
        perCall.get(v)?.push(r.us);
        console.log(
          `run ${run} ${v.padEnd(12)} ${r.reqPerSec.toFixed(0).padStart(6)} calls/s  meshlet ${r.us.toFixed(1).padStart(6)} µs CPU/call  ` +
            `p50 ${(r.p50Us / 1000).toFixed(2)} ms  p99 ${(r.p99Us / 1000).toFixed(2)} ms  clustered ${r.clustered.toFixed(2)}`,
        );
      }
    }
    const native = median(perCall.get('native-h2') ?? [NaN]);
    console.log('\nmeshlet CPU per call (median of runs), ratio to native gRPC:');
    for (const v of WEB_VARIANTS) {
      const m = median(perCall.get(v) ?? [NaN]);
      console.log(`  ${v.padEnd(12)} ${m.toFixed(1).padStart(6)} µs  ×${(m / native).toFixed(2)}   runs: ${(perCall.get(v) ?? []).map((x) => x.toFixed(1)).join(', ')}`);
    }
    ok = true;
    return 0;
  } catch (err) {
    console.error(`bench: ${(err as Error).message} (work dir kept: ${workDir})`);
    return 1;
  } finally {
    clearTimeout(watchdog);
    await stopAll();
    if (ok) rmSync(workDir, { recursive: true, force: true });
  }
}
