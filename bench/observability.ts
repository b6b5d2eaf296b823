// SPDX-License-Identifier: Apache-2.0
// The cost of observability: peak unary throughput of one meshlet sidecar with per-call metrics and
// tracing at 1 % sampling, against the same sidecar with both off. Target: on >= 90 % of off. h2load drives the
// same upstream (bench/upstream.ts) through each variant in turn; runs alternate variants, medians are reported.
// Spans go to an in-process OTLP/HTTP sink, so exporting is real work. Results: docs/performance.md.
//
//   npx tsx bench/observability.ts [--runs 3] [--seconds 5] [--warmup 2] [--clients 10] [--streams 10]
//                                  [--variants off,on,metrics,tracing] [--rate N]
// Besides req/s it reports the sidecar's CPU time per call (from /proc), which other load on the machine disturbs
// far less than throughput: on a CPU-bound proxy, throughput scales with 1 / (CPU per call). `--rate N` offers a
// fixed N req/s instead of unlimited load, for that CPU comparison.
//   npx tsx bench/observability.ts --micro     per-call cost of the metrics and tracing work, in-process (ns)

import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { grpcRequestFrame, preflightCall, type UpstreamMessage } from './grpc-wire.js';
import { runH2load } from './h2load.js';
import { freePort, installExitHandlers, spawnTracked, stopAll, type Tracked, waitUntilReady } from './processes.js';
import { findTool } from './tools.js';
import { clockTicksPerSecond, treeCpuTicks } from './cpu.js';
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { ProxyCall } from '../src/proxy/call.js';
import { backendFromAuthority } from '../src/proxy/layers/route.js';
import { RequestBody } from '../src/proxy/request-body.js';
import { createMetrics } from '../src/telemetry/metrics.js';
import { createTracing, SpanKind } from '../src/telemetry/tracing.js';
import { MESHLET_NODE_FLAGS } from '../src/node-flags.js';

const VARIANTS = {
  off: { metrics: false, tracing: false, messages: true },
  on: { metrics: true, tracing: true, messages: true },
  metrics: { metrics: true, tracing: false, messages: true },
  /** Metrics without parsing message counts of unknown-type methods (`metrics.countUnknownMessages: false`). */
  'metrics-nomsg': { metrics: true, tracing: false, messages: false },
  tracing: { metrics: false, tracing: true, messages: true },
} as const;
type Variant = keyof typeof VARIANTS;

const here = path.dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');
/** How to run a module of this repo: built JS under dist/, or TypeScript through tsx when run from source. */
function nodeArgs(relative: string): string[] {
  const file = path.join(here, fromSource ? relative : relative.replace(/\.ts$/, '.js'));
  return fromSource ? ['--import', 'tsx', file] : [file];
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

async function startUpstream(dir: string): Promise<{ port: number }> {
  const up = spawnTracked('upstream', process.execPath, [...nodeArgs('upstream.ts'), 'node-http2'], { logPath: path.join(dir, 'upstream.log'), ipc: true });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('upstream did not report ready within 15 s')), 15_000);
    up.child.on('message', (m: UpstreamMessage) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve(m.port);
      }
    });
  });
  return { port };
}

/** An OTLP/HTTP sink that accepts every export and counts the bytes received. */
async function startSink(): Promise<{ url: string; requests: () => number; close: () => void }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/v1/traces`, requests: () => requests, close: () => server.close() };
}

async function startVariant(dir: string, variant: Variant, upstreamPort: number, sinkUrl: string, body: Buffer): Promise<{ port: number; admin: number; proc: Tracked }> {
  const port = await freePort();
  const admin = await freePort();
  const v = VARIANTS[variant];
  const config = {
    service: { name: `bench-${variant}` },
    inbound: { listen: `127.0.0.1:${port}`, app: `127.0.0.1:${upstreamPort}` },
    admin: { listen: `127.0.0.1:${admin}` },
    // nginx and the other bench paths run without access logs; so does every variant here.
    log: { level: 'warn', accessLog: false },
    metrics: { enabled: v.metrics, process: v.metrics, countUnknownMessages: v.messages },
    tracing: v.tracing ? { mode: 'on', sampleRatio: 0.01, endpoint: sinkUrl, batchDelayMs: 1000 } : { mode: 'off' },
    health: { appCheck: 'none' },
  };
  const file = path.join(dir, `${variant}.yaml`);
  writeFileSync(file, JSON.stringify(config, null, 2)); // JSON is YAML
  const proc = spawnTracked(`meshlet-${variant}`, process.execPath, [...MESHLET_NODE_FLAGS, ...nodeArgs('../src/main.ts'), 'run', '--config', file], { logPath: path.join(dir, `${variant}.log`) });
  await waitUntilReady(proc, () => preflightCall(port, body));
  return { port, admin, proc };
}

/**
 * In-process cost per call of what the metrics and tracing layers do (the h2load numbers include everything
 * else a proxy does). Calls carry fresh header strings, as calls off the wire do, so map lookups hash them.
 */
async function micro(): Promise<void> {
  const N = 200_000;
  const calls = Array.from({ length: 1000 }, (_, i) => {
    const headers = { ':path': Buffer.from(`/bench.Echo/M${i % 20}`).toString(), ':authority': Buffer.from(`svc-${i % 5}:6140`).toString() };
    const c = new ProxyCall('outbound', headers, new RequestBody(new PassThrough()), { address: '127.0.0.1', port: 1, identity: undefined }, performance.now());
    c.body.bytes = 21;
    c.responseBytes = 21;
    return c;
  });
  const fresh = () => calls.map((c) => new ProxyCall('outbound', { ':path': Buffer.from(c.path).toString(), ':authority': Buffer.from(c.authority).toString() }, c.body, c.peer, performance.now()));
  const time = (label: string, f: (c: ProxyCall) => void) => {
    const batches = Math.ceil(N / calls.length);
    const sets = Array.from({ length: 4 }, fresh);
    for (const set of sets) for (const c of set) f(c); // warm up
    const lists = Array.from({ length: batches }, (_, b) => sets[b % sets.length] as ProxyCall[]);
    const t0 = process.hrtime.bigint();
    for (const list of lists) for (const c of list) f(c);
    const ns = Number(process.hrtime.bigint() - t0) / (batches * calls.length);
    process.stdout.write(`${label.padEnd(58)} ${ns.toFixed(0).padStart(6)} ns/call\n`);
    return ns;
  };
  const baseline = time('baseline (loop only)', () => {});
  const m = createMetrics({ serviceName: 'local', upstreamOf: backendFromAuthority });
  const table = m.calls.outbound;
  const metricsNs = time('metrics: series lookup + started + end (unary)', (c) => {
    const s = table.series(c);
    s.started++;
    s.end(c, 0);
  });
  const noop = { export: (_s: unknown, done: (r: { code: number }) => void) => done({ code: 0 }), shutdown: () => Promise.resolve() };
  const tracing = createTracing({ serviceName: 's', sampleRatio: 0.01, propagation: ['tracecontext', 'b3', 'b3multi'], endpoint: 'http://unused', exporter: noop as never, log: pino({ level: 'silent' }) });
  const ok = { status: 0, message: undefined, error: undefined };
  const tracingNs = time('tracing at 1 %: decide, inject, span when sampled', (c) => {
    delete c.headers.traceparent;
    const t = tracing.startServer(c);
    if (t.span !== undefined) tracing.endSpan(t.span, SpanKind.SERVER, ok);
  });
  const parent = `00-${'4bf92f3577b34da6a3ce929d0e0e4736'}-${'00f067aa0ba902b7'}-00`;
  time('tracing, unsampled parent (pass-through)', (c) => {
    c.headers.traceparent = parent;
    tracing.startServer(c);
  });
  const prom = m.counter({ name: 'meshlet_bench_prom_counter_total', help: 'x', labelNames: ['a', 'b'] as const });
  const hist = m.histogram({ name: 'meshlet_bench_prom_histogram_seconds', help: 'x', labelNames: ['a', 'b'] as const });
  time('for comparison: prom-client labelled counter inc', (c) => prom.inc({ a: c.authority, b: c.path }));
  time('for comparison: prom-client labelled histogram observe', (c) => hist.observe({ a: c.authority, b: c.path }, 0.001));
  process.stdout.write(`\nmetrics ${(metricsNs - baseline).toFixed(0)} ns + tracing ${(tracingNs - baseline).toFixed(0)} ns per call (baseline subtracted)\n`);
  await tracing.shutdown();
}

async function main(): Promise<void> {
  if (process.argv.includes('--micro')) return micro();
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      clients: { type: 'string', default: '10' },
      streams: { type: 'string', default: '10' },
      variants: { type: 'string', default: 'off,on' },
      rate: { type: 'string' },
    },
  });
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  const ticksPerSecond = clockTicksPerSecond();
  const runs = Number(values.runs);
  const seconds = Number(values.seconds);
  const variants = String(values.variants).split(',') as Variant[];
  for (const v of variants) if (!(v in VARIANTS)) throw new Error(`unknown variant ${v}; choose from ${Object.keys(VARIANTS).join(', ')}`);
  const h2load = findTool('h2load');
  if (h2load === undefined) throw new Error('h2load (nghttp2-client) is not installed');
  installExitHandlers();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-obs-bench-'));
  const body = grpcRequestFrame(16);
  const bodyPath = path.join(dir, 'body.bin');
  writeFileSync(bodyPath, body);
  const sink = await startSink();
  try {
    const upstream = await startUpstream(dir);
    const started = new Map<Variant, { port: number; admin: number; proc: Tracked }>();
    for (const v of variants) started.set(v, await startVariant(dir, v, upstream.port, sink.url, body));
    const load = (v: Variant, secs: number, tag: string) =>
      runH2load(
        {
          bin: h2load,
          port: (started.get(v) as { port: number }).port,
          bodyPath,
          clients: Number(values.clients),
          streams: Number(values.streams),
          seconds: secs,
          rpsPerClient: rate === undefined ? undefined : Math.max(1, Math.round(rate / Number(values.clients))),
          logPath: path.join(dir, `h2load-${v}-${tag}.log`),
        },
        path.join(dir, `h2load-${v}-${tag}.out`),
      );
    for (const v of variants) await load(v, Number(values.warmup), 'warmup');
    const samples = new Map<Variant, number[]>(variants.map((v) => [v, []]));
    const cpu = new Map<Variant, number[]>(variants.map((v) => [v, []]));
    for (let run = 0; run < runs; run++) {
      // Alternate the order so drift (thermal, other load) does not favour one variant.
      const order = run % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        const pid = (started.get(v) as { proc: Tracked }).proc.pid;
        const ticks0 = treeCpuTicks(pid);
        const r = await load(v, seconds, `run${run}`);
        const cpuUsPerCall = ((treeCpuTicks(pid) - ticks0) / ticksPerSecond / Math.max(1, r.succeeded)) * 1e6;
        if (r.failed + r.errored + r.timeout > 0) throw new Error(`${v}: ${r.failed} failed, ${r.errored} errored, ${r.timeout} timeouts`);
        samples.get(v)?.push(r.reqPerSec);
        cpu.get(v)?.push(cpuUsPerCall);
        process.stdout.write(`run ${run + 1}/${runs} ${v.padEnd(8)} ${r.reqPerSec.toFixed(0)} req/s  sidecar CPU ${cpuUsPerCall.toFixed(1)} µs/call  p50 ${r.p50Us} µs  p99 ${r.p99Us} µs\n`);
      }
    }
    const base = median(samples.get('off') ?? samples.get(variants[0] as Variant) ?? []);
    const baseCpu = median(cpu.get('off') ?? cpu.get(variants[0] as Variant) ?? []);
    process.stdout.write(`\n| variant | median req/s | req/s vs off | sidecar CPU µs/call | CPU-equivalent throughput vs off |\n|---|---:|---:|---:|---:|\n`);
    for (const v of variants) {
      const m = median(samples.get(v) ?? []);
      const c = median(cpu.get(v) ?? []);
      process.stdout.write(`| ${v} | ${m.toFixed(0)} | ${((m / base) * 100).toFixed(1)} % | ${c.toFixed(1)} | ${((baseCpu / c) * 100).toFixed(1)} % |\n`);
    }
    if (samples.has('on') && samples.has('off')) {
      const ratio = median(samples.get('on') ?? []) / base;
      const cpuRatio = baseCpu / median(cpu.get('on') ?? []);
      process.stdout.write(`\nmetrics + tracing (1 % sampling) / off: throughput ${(ratio * 100).toFixed(1)} %, CPU-equivalent ${(cpuRatio * 100).toFixed(1)} %: ${ratio >= 0.9 && cpuRatio >= 0.9 ? 'PASS' : 'FAIL'} (target >= 90 %)\n`);
    }
    if (started.has('on')) {
      const text = await (await fetch(`http://127.0.0.1:${started.get('on')?.admin}/metrics`)).text();
      const exported = /^meshlet_tracing_spans_exported_total (\S+)$/m.exec(text)?.[1];
      process.stdout.write(`spans exported by "on": ${exported ?? '?'} (OTLP requests received: ${sink.requests()})\n`);
    }
  } finally {
    await stopAll();
    sink.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench/observability: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
