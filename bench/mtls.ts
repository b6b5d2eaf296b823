// SPDX-License-Identifier: Apache-2.0
// `npm run bench -- --suite mtls` (issue 12): (1) full mTLS handshakes per second and per server CPU-second against
// meshlet's TLS listener and nginx, from a separate node:tls load generator; (2) h2load at a fixed rate through two
// sidecars with mTLS between them, against direct, the same sidecars without TLS and nginx×2 with mTLS. Reuses the
// default suite's process tracking, CPU accounting, h2load runner, nginx starter and report helpers.
// Method: docs/performance.md, "mTLS".

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startUpstream, type Upstream } from './app-process.js';
import { makeBenchCerts, readPem, SERVER_DNS_NAME, SERVER_SPIFFE_ID } from './certs.js';
import { clockTicksPerSecond, treeCpuTicks } from './cpu.js';
import { grpcRequestFrame, type PreflightTls, preflightCall } from './grpc-wire.js';
import { type HandshakeLoadArgs, runHandshakeLoad } from './handshake.js';
import { type LoadSpec, runArrivals, runH2load } from './h2load.js';
import type { ChainPath, HandshakeServer, MtlsOptions } from './mtls-args.js';
import {
  type ChainSample,
  evaluateMtlsTargets,
  formatChainLine,
  formatHandshakeLine,
  formatMtlsReport,
  type HandshakeSample,
  summariseChain,
  summariseHandshakes,
} from './mtls-report.js';
import { MESHLET_MAIN, meshletArgs, meshletListenerTlsArgs, meshletUpstreamTlsArgs, startNodeProxy } from './node-proxy.js';
import { type NginxTls, nginxVersion, startNginx } from './nginx.js';
import { armWatchdog, freePort, installExitHandlers, stopAll, stopTracked, type Tracked } from './processes.js';
import { findTool, missingToolsMessage, type ToolName, toolVersion } from './tools.js';
import { MESHLET_NODE_FLAGS } from '../src/node-flags.js';

/** A two-sidecar path: the port h2load targets and the sidecars on it, A (h2load side) first. */
interface ChainTarget {
  path: ChainPath;
  port: number;
  sidecars: Tracked[];
}

/** Planned wall time of the measurements in seconds, for the watchdog and the banner. */
export function plannedMtlsSeconds(o: MtlsOptions): number {
  const handshake = o.scenarios.includes('handshake') ? o.servers.length * (o.warmupSeconds + o.runs * o.handshakeSeconds) : 0;
  const chain = o.scenarios.includes('chain') ? o.paths.length * (o.chainWarmupSeconds + o.runs * o.arrivals.length * o.chainSeconds) : 0;
  return handshake + chain;
}

/** Runs the suite; resolves with the exit status (0 ok, 1 failed or a target FAILed, 2 missing tools). */
export async function runMtlsSuite(options: MtlsOptions): Promise<number> {
  const wantHandshake = options.scenarios.includes('handshake');
  const wantChain = options.scenarios.includes('chain');
  const wantNginx = (wantHandshake && options.servers.includes('nginx')) || (wantChain && options.paths.includes('nginx-x2-mtls'));
  const needed: ToolName[] = ['openssl', ...(wantChain ? (['h2load'] as const) : []), ...(wantNginx ? (['nginx'] as const) : [])];
  const bins = new Map(needed.map((t) => [t, findTool(t)]));
  const missing = needed.filter((t) => bins.get(t) === undefined);
  if (missing.length > 0) {
    console.error(missingToolsMessage(missing));
    return 2;
  }
  const opensslBin = bins.get('openssl') as string;
  const h2loadBin = bins.get('h2load');
  const nginxBin = bins.get('nginx');
  const main = options.meshletMain ?? MESHLET_MAIN;

  installExitHandlers();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'meshlet-bench-mtls-'));
  let succeeded = false;
  const watchdog = armWatchdog(plannedMtlsSeconds(options) * 1.5 + 120, workDir);

  try {
    const cpus = os.cpus();
    const load = os.loadavg();
    console.log(
      [
        `meshlet bench, mTLS suite — ${cpus.length} × ${cpus[0]?.model ?? '?'}, ${os.platform()} ${os.release()}`,
        `node ${process.version}; ${toolVersion(opensslBin, ['version'])}; ${h2loadBin ? toolVersion(h2loadBin, ['--version']) : 'h2load not used'}; ` +
          `${nginxBin ? toolVersion(nginxBin, ['-v']) : 'nginx not used'}`,
        `scenarios ${options.scenarios.join(', ')}; ${options.runs} run(s); about ${Math.round(plannedMtlsSeconds(options))} s of load`,
        `load average ${load.map((l) => l.toFixed(2)).join(' ')}${load[0] !== undefined && load[0] > 0.5 ? '  (machine busy: numbers will be noisy)' : ''}`,
        `work dir ${workDir}`,
        '',
      ].join('\n'),
    );

    const certDir = path.join(workDir, 'certs');
    mkdirSync(certDir);
    const certs = makeBenchCerts(opensslBin, certDir);
    console.log(`ECDSA P-256 CA and leaves (server ${SERVER_SPIFFE_ID}, DNS ${SERVER_DNS_NAME}) in ${certDir}`);
    const probeTls: PreflightTls = {
      ca: readPem(certs.caCert),
      cert: readPem(certs.clientCert),
      key: readPem(certs.clientKey),
      servername: SERVER_DNS_NAME,
    };
    const nginxServerTls: NginxTls = { server: { cert: certs.serverCert, key: certs.serverKey, clientCa: certs.caCert } };
    const nginxClientTls: NginxTls = {
      upstream: { cert: certs.clientCert, key: certs.clientKey, ca: certs.caCert, name: SERVER_DNS_NAME },
    };

    const body = grpcRequestFrame(options.payloadBytes);
    const bodyPath = path.join(workDir, 'unary.bin');
    writeFileSync(bodyPath, body);
    const upstream = await startUpstream(workDir, 'node-http2');
    await preflightCall(upstream.port, body).catch((err: Error) => {
      throw new Error(`upstream does not answer the bench call: ${err.message}`);
    });

    const ticksPerSecond = clockTicksPerSecond();
    const ticksToUs = (ticks: number): number => (ticks * 1e6) / ticksPerSecond;

    /** A meshlet sidecar in quick mode; undefined (with the reason printed) when it does not serve. */
    const startMeshlet = async (name: string, listenPort: number, upstreamPort: number, extra: string[], tls: boolean): Promise<Tracked | undefined> => {
      const started = await startNodeProxy({
        name,
        script: main,
        args: meshletArgs(main, listenPort, upstreamPort, false, extra),
        nodeArgs: [...MESHLET_NODE_FLAGS, ...options.meshletNodeArgs],
        logPath: path.join(workDir, `${name}.log`),
        listenPort,
        body,
        profileDir: undefined,
        probeTls: tls ? probeTls : undefined,
      });
      if (!started.ok) {
        console.log(`SKIPPED ${name}: ${started.reason}`);
        return undefined;
      }
      console.log(`${name} serving on 127.0.0.1:${listenPort}: ${started.commandLine}`);
      return started.proxy;
    };

    // 1. Handshakes.
    const handshakeSamples: HandshakeSample[] = [];
    if (wantHandshake) {
      const servers: Array<{ server: HandshakeServer; port: number; proc: Tracked }> = [];
      for (const server of options.servers) {
        const port = await freePort();
        if (server === 'meshlet') {
          const proc = await startMeshlet('meshlet-tls', port, upstream.port, meshletListenerTlsArgs(certs), true);
          if (proc) servers.push({ server, port, proc });
        } else if (nginxBin) {
          const proc = await startNginx(nginxBin, workDir, port, upstream.port, 16, body, { name: 'nginx-tls', tls: nginxServerTls, probeTls });
          console.log(`nginx ${nginxVersion(nginxBin)?.join('.') ?? '?'} (TLS, ssl_verify_client on) serving on 127.0.0.1:${port}`);
          servers.push({ server, port, proc });
        }
      }
      const loadDir = path.join(workDir, 'handshake');
      mkdirSync(loadDir);
      const args = (port: number, seconds: number): HandshakeLoadArgs => ({
        port,
        ca: certs.caCert,
        cert: certs.clientCert,
        key: certs.clientKey,
        servername: SERVER_DNS_NAME,
        concurrency: options.handshakeConcurrency,
        seconds,
      });
      console.log(`\nhandshake warm-up: ${options.warmupSeconds} s per server (not measured)`);
      for (const s of servers) await runHandshakeLoad(args(s.port, options.warmupSeconds), options.handshakeProcs, path.join(loadDir, `warmup-${s.server}`));
      for (let run = 1; run <= options.runs; run++) {
        for (const s of servers) {
          const before = treeCpuTicks(s.proc.pid);
          const { total, perProcess } = await runHandshakeLoad(
            args(s.port, options.handshakeSeconds),
            options.handshakeProcs,
            path.join(loadDir, `${run}-${s.server}`),
          );
          const after = treeCpuTicks(s.proc.pid);
          const sample: HandshakeSample = {
            server: s.server,
            run,
            handshakes: total.handshakes,
            errors: total.errors,
            firstError: total.firstError,
            seconds: total.elapsedMs / 1000,
            serverCpuUs: ticksToUs(after - before),
            clientCpuUs: total.cpuUs,
            busiestClientCores: Math.max(...perProcess.map((p) => p.cpuUs / 1e6 / (p.elapsedMs / 1000))),
            p50Ms: total.p50Ms,
            p99Ms: total.p99Ms,
            negotiated: total.negotiated,
          };
          handshakeSamples.push(sample);
          console.log(formatHandshakeLine(sample, options.runs));
        }
      }
      // The chain scenario must not share the machine with idle-but-resident handshake servers' timers.
      for (const s of servers) await stopTracked(s.proc);
      console.log('');
    }

    // 2. Two sidecars at a fixed rate.
    const chainSamples: ChainSample[] = [];
    if (wantChain && h2loadBin) {
      const targets = await startChainTargets(options, upstream, {
        startMeshlet,
        startNginxPair: async (aPort, bPort) => {
          if (!nginxBin) return undefined;
          const keepalive = options.clients * options.streams;
          const b = await startNginx(nginxBin, workDir, bPort, upstream.port, keepalive, body, { name: 'nginx-b', tls: nginxServerTls, probeTls });
          const a = await startNginx(nginxBin, workDir, aPort, bPort, keepalive, body, { name: 'nginx-a', tls: nginxClientTls });
          console.log(`nginx-x2-mtls: nginx A 127.0.0.1:${aPort} → grpcs → nginx B 127.0.0.1:${bPort} (ssl_verify_client on) → app`);
          return [a, b];
        },
        certsArgs: { listener: meshletListenerTlsArgs(certs), upstream: meshletUpstreamTlsArgs(certs, SERVER_SPIFFE_ID) },
      });
      const h2loadDir = path.join(workDir, 'h2load');
      mkdirSync(h2loadDir);
      let seq = 0;
      const spec = (t: ChainTarget, seconds: number, label: string): LoadSpec => ({
        bin: h2loadBin,
        port: t.port,
        bodyPath,
        clients: options.clients,
        streams: options.streams,
        seconds,
        rpsPerClient: Math.max(1, Math.round(options.rate / options.clients)),
        logPath: path.join(h2loadDir, `${++seq}-${t.path}-${label}.tsv`),
      });
      console.log(`\nchain warm-up: ${options.chainWarmupSeconds} s at ${options.rate} calls/s per path (not measured)`);
      for (const t of targets) {
        const s = spec(t, options.chainWarmupSeconds, 'warmup');
        await runH2load(s, s.logPath.replace(/\.tsv$/, '.out'));
      }
      for (let run = 1; run <= options.runs; run++) {
        // Paths (and arrival patterns) interleave inside each run, so slow drift on the machine hits every path alike.
        for (const t of targets) {
          for (const arrivals of options.arrivals) {
            const s = spec(t, options.chainSeconds, `run${run}-${arrivals}`);
            const sidecarsBefore = t.sidecars.map((p) => treeCpuTicks(p.pid));
            const appBefore = treeCpuTicks(upstream.process.pid);
            const callsBefore = await upstream.calls();
            const { clustered, ...result } = await runArrivals(s, s.logPath.replace(/\.tsv$/, '.out'), arrivals);
            const callsAfter = await upstream.calls();
            const appAfter = treeCpuTicks(upstream.process.pid);
            const sidecarsAfter = t.sidecars.map((p) => treeCpuTicks(p.pid));
            const sample: ChainSample = {
              path: t.path,
              run,
              arrivals,
              clustered,
              load: result,
              appCalls: callsAfter - callsBefore,
              appCpuUs: ticksToUs(appAfter - appBefore),
              sidecarCpuUs: t.sidecars.map((_, i) => ticksToUs((sidecarsAfter[i] ?? 0) - (sidecarsBefore[i] ?? 0))),
            };
            chainSamples.push(sample);
            console.log(formatChainLine(sample, options.runs));
            if (result.reqPerSec < options.rate * 0.95) console.log(`  note: ${t.path} (${arrivals}) did not sustain the offered ${options.rate} calls/s`);
          }
        }
      }
    }

    const handshakes = summariseHandshakes(handshakeSamples);
    const chain = summariseChain(chainSamples);
    const describe = {
      handshake:
        `ECDSA P-256, TLS with ALPN h2 and a client cert, no resumption; ${options.handshakeProcs} load generator(s) × ` +
        `${options.handshakeConcurrency} in flight for ${options.handshakeSeconds} s`,
      chain:
        `${options.rate} calls/s offered over ${options.clients} connections (-m ${options.streams}) for ${options.chainSeconds} s, ` +
        `${body.length} B request; burst = one h2load -c ${options.clients}, spread = ${options.clients} × h2load -c 1, started 1/rate apart`,
    };
    console.log(`\n${formatMtlsReport(handshakes, chain, describe)}`);
    console.log('\nCPU = utime+stime from /proc/<pid>/stat (whole process tree); clients: process.cpuUsage() of the load generators.');
    if (options.json) {
      const json = { options, ticksPerSecond, handshakeSamples, chainSamples, handshakes, chain, targets: evaluateMtlsTargets(handshakes, chain) };
      writeFileSync(options.json, JSON.stringify(json, null, 2));
      console.log(`results written to ${options.json}`);
    }
    succeeded = true;
    // NOISY fails too: the target was not shown to be met.
    return evaluateMtlsTargets(handshakes, chain).some((t) => t.verdict === 'FAIL' || t.verdict === 'NOISY') ? 1 : 0;
  } finally {
    clearTimeout(watchdog);
    await stopAll();
    if (succeeded && !options.keep) rmSync(workDir, { recursive: true, force: true });
    else console.error(`work dir kept: ${workDir}`);
  }
}

interface ChainStarters {
  startMeshlet(name: string, listenPort: number, upstreamPort: number, extra: string[], tls: boolean): Promise<Tracked | undefined>;
  /** nginx A on aPort → nginx B on bPort; [A, B], or undefined without nginx. */
  startNginxPair(aPort: number, bPort: number): Promise<Tracked[] | undefined>;
  certsArgs: { listener: string[]; upstream: string[] };
}

/** Starts each path's sidecars, B (app side) before A so A's readiness call goes all the way through. */
async function startChainTargets(options: MtlsOptions, upstream: Upstream, start: ChainStarters): Promise<ChainTarget[]> {
  const targets: ChainTarget[] = [];
  for (const p of options.paths) {
    if (p === 'direct') {
      targets.push({ path: p, port: upstream.port, sidecars: [] });
      continue;
    }
    const aPort = await freePort();
    const bPort = await freePort();
    if (p === 'nginx-x2-mtls') {
      const pair = await start.startNginxPair(aPort, bPort);
      if (pair) targets.push({ path: p, port: aPort, sidecars: pair });
      continue;
    }
    const tls = p === 'meshlet-x2-mtls';
    const b = await start.startMeshlet(`${p}-b`, bPort, upstream.port, tls ? start.certsArgs.listener : [], tls);
    if (!b) continue;
    const a = await start.startMeshlet(`${p}-a`, aPort, bPort, tls ? start.certsArgs.upstream : [], false);
    if (!a) {
      await stopTracked(b);
      continue;
    }
    targets.push({ path: p, port: aPort, sidecars: [a, b] });
  }
  return targets;
}
