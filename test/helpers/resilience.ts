// SPDX-License-Identifier: Apache-2.0
// Integration helpers for resilience policies (issue 4): a real sidecar (createApp on port 0) whose policy file
// lives in a temp directory, with counting decision hooks and captured logs; concurrent call drivers.
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createApp, type App } from '../../src/app.js';
import { bootstrapSchema, type BootstrapInput } from '../../src/config/schema.js';
import type { ResilienceEvents } from '../../src/resilience/events.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { unary, type EchoClient, type UnaryResult } from './echo.js';

export type CountingEvents = ResilienceEvents & { readonly counts: Map<string, number>; count(key: string): number };

/** Decision hooks that count calls as `hook:backend[:detail]` (endpoint and penalty arguments left out). */
export function countingEvents(): CountingEvents {
  const counts = new Map<string, number>();
  const bump = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);
  return {
    counts,
    count: (key: string) => counts.get(key) ?? 0,
    onEject: (b) => bump(`eject:${b}`),
    onEjectSkipped: (b) => bump(`ejectSkipped:${b}`),
    onProbation: (b) => bump(`probation:${b}`),
    onRestore: (b) => bump(`restore:${b}`),
    onOverflow: (b, limit) => bump(`overflow:${b}:${limit}`),
    onBreakerState: (b, s) => bump(`breaker:${b}:${s}`),
    onBreakerReject: (b) => bump(`breakerReject:${b}`),
    onRetry: (b, reason) => bump(`retry:${b}:${reason}`),
    onRetryGiveUp: (b, why) => bump(`giveUp:${b}:${why}`),
    onRetryPushback: (b) => bump(`pushback:${b}`),
    onBudgetExhausted: (b) => bump(`budget:${b}`),
    onShadow: (f, b, d) => bump(`shadow:${f}:${b}:${d}`),
    onReload: (r) => bump(`reload:${r}`),
  };
}

export interface PolicySidecar {
  readonly app: App;
  readonly outbound: string;
  /** The policy file (in its own temp directory). */
  readonly policyFile: string;
  readonly dir: string;
  readonly events: CountingEvents;
  readonly logs: Array<Record<string, unknown>>;
  writePolicy(yaml: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts an outbound-only sidecar routing `echo` to `endpoints` (round robin unless given), with `policyYaml` as
 * its policy file. `policyFile` overrides where the bootstrap points (e.g. a ConfigMap-style symlink the test
 * built in `dir`).
 */
export async function startPolicySidecar(opts: {
  readonly endpoints: readonly string[];
  readonly policyYaml: string;
  readonly balancing?: 'round_robin' | 'least_request';
  readonly prepare?: (dir: string) => Promise<string>;
  readonly reloadDebounceMs?: number;
  /** Access log lines in `logs` (default off: the scenarios make thousands of calls). */
  readonly accessLog?: boolean;
}): Promise<PolicySidecar> {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-policy-'));
  const defaultFile = join(dir, 'policy.yaml');
  await writeFile(defaultFile, opts.policyYaml);
  const policyFile = opts.prepare === undefined ? defaultFile : await opts.prepare(dir);
  const input: BootstrapInput = {
    service: { name: 'caller' },
    outbound: { listen: '127.0.0.1:0' },
    admin: { listen: '127.0.0.1:0' },
    log: { level: 'info', accessLog: opts.accessLog ?? false },
    upstreams: { echo: { endpoints: [...opts.endpoints], balancing: { policy: opts.balancing ?? 'round_robin' } } },
    policy: { file: policyFile, reloadDebounceMs: opts.reloadDebounceMs ?? 50 },
  };
  const config = bootstrapSchema.parse(input);
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const events = countingEvents();
  const app = await createApp(config, { log: createLogger({ level: 'info', destination }), resilienceEvents: events });
  const a = await app.start();
  let closed = false;
  return {
    app,
    outbound: `127.0.0.1:${a.outbound?.port}`,
    policyFile,
    dir,
    events,
    logs,
    writePolicy: (yaml) => writeFile(defaultFile, yaml),
    async close() {
      if (closed) return;
      closed = true;
      await app.drain(0);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Makes `total` unary calls with at most `concurrency` in flight; resolves with every result in call order. */
export async function callMany(client: EchoClient, total: number, concurrency: number, md: () => grpc.Metadata = () => new grpc.Metadata()): Promise<UnaryResult[]> {
  const results: UnaryResult[] = new Array(total);
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      results[i] = await unary(client, Buffer.from('x'), md());
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return results;
}
