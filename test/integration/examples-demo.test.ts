// SPDX-License-Identifier: Apache-2.0
// The local demo end to end, as `npm start` runs it: the built demo starts two services behind two real meshlet
// processes, makes three rounds of calls through both sidecars, and stops everything cleanly. Needs the build
// output (npm test builds before running vitest); uses the demo's fixed ports (examples/demo/ports.ts), so the
// tests of this file run one after the other. The second runs the demo against the Consul double, which runs the
// registered gRPC checks like an agent (first run one full interval after registration: the agent's worst case).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

import { DEMO_HOST, DEMO_PORTS } from '../../examples/demo/ports.js';
import { startConsulDouble, type ConsulDouble } from '../doubles/consul.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEMO = `${ROOT}dist/examples/demo/main.js`;

interface DemoRun {
  code: number | null;
  out: string;
}

function runDemo(env: NodeJS.ProcessEnv): Promise<DemoRun> {
  const child = spawn(process.execPath, [DEMO, '--calls', '3'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}

/** The register body the double received for `name` (Consul accepts any key case; meshlet sends PascalCase). */
function registrationOf(double: ConsulDouble, name: string): { ID: string; Checks: Array<{ GRPC?: string; Interval?: string }> } {
  const body = double.registrations.find((r) => (r as { Name?: unknown }).Name === name);
  expect(body, `no registration of ${name}`).toBeDefined();
  return body as { ID: string; Checks: Array<{ GRPC?: string; Interval?: string }> };
}

let double: ConsulDouble | undefined;
afterEach(async () => {
  await double?.close();
  double = undefined;
});

describe('npm start demo', () => {
  it('runs three rounds of calls through both sidecars and exits 0', async () => {
    expect(existsSync(DEMO), 'build output missing: run `npm run build` (npm test does)').toBe(true);
    const child = spawn(process.execPath, [DEMO, '--calls', '3'], { cwd: ROOT, env: { ...process.env, CONSUL_HTTP_ADDR: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, out).toBe(0);
    expect(out).toMatch(/GetOrder|ListOrders/);
  }, 90_000);

  it('registers both services in Consul, discovers user-service with blocking queries, and deregisters on stop', async () => {
    expect(existsSync(DEMO), 'build output missing: run `npm run build` (npm test does)').toBe(true);
    const d = await startConsulDouble({ runChecks: true });
    double = d;
    const env: NodeJS.ProcessEnv = { ...process.env, CONSUL_HTTP_ADDR: d.address };
    for (const inherited of ['CONSUL_HTTP_TOKEN', 'CONSUL_HTTP_SSL', 'CONSUL_CACERT', 'DEMO_READY_TIMEOUT_MS']) delete env[inherited];

    const { code, out } = await runDemo(env);

    // Exit 0 after --calls means every call got its expected status: none failed while user-service was critical.
    expect(code, out).toBe(0);
    expect(out).toMatch(/consul discovery/);
    expect(out).toMatch(/GetOrder/);

    const user = registrationOf(d, 'user-service');
    const order = registrationOf(d, 'order-service');
    expect(user.Checks.map((c) => c.GRPC)).toEqual([`${DEMO_HOST}:${DEMO_PORTS.userInbound}`]);
    expect(order.Checks.map((c) => c.GRPC)).toEqual([`${DEMO_HOST}:${DEMO_PORTS.orderInbound}`]);

    // The order-service sidecar watched user-service: a first read, then blocking reads carrying the index.
    const reads = d.requestsTo('/v1/health/service/user-service');
    const blocking = reads.filter((r) => r.query.index !== undefined && Number(r.query.index) > 0);
    expect(blocking.length, JSON.stringify(reads.map((r) => r.query))).toBeGreaterThan(0);
    expect(blocking.every((r) => 'passing' in r.query && r.query.wait !== undefined)).toBe(true);

    // Stopped: both deregistered, nothing left in the agent, no check runner left.
    const deregistered = d.requestsTo('/v1/agent/service/deregister/').map((r) => decodeURIComponent(r.path.split('/').pop() ?? ''));
    expect(deregistered.sort()).toEqual([order.ID, user.ID].sort());
    const services = (await (await fetch(`${d.address}/v1/agent/services`)).json()) as Record<string, unknown>;
    expect(services).toEqual({});
    expect(d.runningChecks()).toBe(0);
  }, 120_000);
});
