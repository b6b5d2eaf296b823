// SPDX-License-Identifier: Apache-2.0
// The local demo end to end, as `npm start` runs it: the built demo starts two services behind two real meshlet
// processes, makes three rounds of calls through both sidecars, and stops everything cleanly. Needs the build
// output (npm test builds before running vitest); uses the demo's fixed ports (examples/demo/ports.ts), so the
// tests of this file run one after the other. The second runs the demo against the Consul double, which runs the
// registered gRPC checks like an agent (first run one full interval after registration: the agent's worst case).
// Both check the mesh part: mTLS identities printed, the authz denial expected, and user-service's sidecar access
// log naming order-service's SPIFFE ID as the peer of its calls.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

import { DEMO_HOST, DEMO_PORTS } from '../../examples/demo/ports.js';
import { startConsulDouble, type ConsulDouble } from '../doubles/consul.js';
import { chromiumInstalled, launchChromium } from '../helpers/chromium.js';

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

const ORDER_ID = 'spiffe://demo.meshlet/svc/order-service';
const USER_ID = 'spiffe://demo.meshlet/svc/user-service';

/** The demo's temp dir (logs, CA, effective configs), from its `logs:` line. */
function runDirOf(out: string): string {
  const m = /logs:\s+(\S+)\/\*\.log/.exec(out);
  expect(m, out).not.toBeNull();
  return m![1]!;
}

/**
 * The mesh part of a run: both identities printed, each GetOrderPayment denied by user-service's sidecar as
 * expected, and that sidecar's access log naming order-service's SPIFFE ID as the peer of every call it served.
 */
function expectMeshOutput(out: string): void {
  expect(out).toMatch(new RegExp(`user-service sidecar\\s+${USER_ID}\\s+\\(cert expires in \\d+h\\d{2}m\\)`));
  expect(out).toMatch(new RegExp(`order-service sidecar\\s+${ORDER_ID}\\s+\\(cert expires in \\d+h\\d{2}m\\)`));
  const denials = out.split('\n').filter((l) => l.includes('GetOrderPayment'));
  expect(denials, out).toHaveLength(3);
  for (const line of denials) expect(line).toMatch(/PERMISSION_DENIED .*\(expected\) \[meshlet ERR_AUTHZ_DENIED\]$/);

  const log = readFileSync(`${runDir}/user-service-sidecar.log`, 'utf8');
  const calls = log
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { access?: boolean; grpc_method?: string; grpc_code?: string; peer_identity?: string; authz?: { rule?: string } })
    .filter((e) => e.access === true);
  const byMethod = (m: string) => calls.filter((c) => c.grpc_method === m);
  expect(byMethod('GetUser').length + byMethod('ListUsers').length, log).toBeGreaterThan(0);
  expect(byMethod('GetPaymentCard'), log).toHaveLength(3);
  for (const c of calls) expect(c.peer_identity, JSON.stringify(c)).toBe(ORDER_ID);
  for (const c of byMethod('GetPaymentCard')) {
    expect(c).toMatchObject({ grpc_code: 'PERMISSION_DENIED', authz: { rule: 'payment-cards-not-for-orders' } });
  }
}

let double: ConsulDouble | undefined;
let runDir: string | undefined;
afterEach(async () => {
  await double?.close();
  double = undefined;
  if (runDir !== undefined) rmSync(runDir, { recursive: true, force: true });
  runDir = undefined;
});

describe('npm start demo', () => {
  it('runs three rounds of calls through both sidecars over mTLS, shows the authz denial, and exits 0', async () => {
    expect(existsSync(DEMO), 'build output missing: run `npm run build` (npm test does)').toBe(true);
    const { code, out } = await runDemo({ ...process.env, CONSUL_HTTP_ADDR: '' });
    runDir = runDirOf(out);
    expect(code, out).toBe(0);
    expect(out).toMatch(/GetOrder|ListOrders/);
    expect(out).toMatch(/mesh CA: \S+\/ca {2}\(meshlet ca init, trust domain demo\.meshlet/);
    expectMeshOutput(out);
  }, 90_000);

  it('registers both services in Consul, discovers user-service with blocking queries, and deregisters on stop', async () => {
    expect(existsSync(DEMO), 'build output missing: run `npm run build` (npm test does)').toBe(true);
    const d = await startConsulDouble({ runChecks: true });
    double = d;
    const env: NodeJS.ProcessEnv = { ...process.env, CONSUL_HTTP_ADDR: d.address };
    for (const inherited of ['CONSUL_HTTP_TOKEN', 'CONSUL_HTTP_SSL', 'CONSUL_CACERT', 'DEMO_READY_TIMEOUT_MS']) delete env[inherited];

    const { code, out } = await runDemo(env);
    runDir = runDirOf(out);

    // Exit 0 after --calls means every call got its expected status: none failed while user-service was critical.
    expect(code, out).toBe(0);
    expect(out).toMatch(/consul discovery/);
    expect(out).toMatch(/GetOrder/);
    expectMeshOutput(out);

    const user = registrationOf(d, 'user-service');
    const order = registrationOf(d, 'order-service');
    // user-service's sidecar is strict (mTLS only): the agent's check dials its plaintext health port instead.
    expect(user.Checks.map((c) => c.GRPC)).toEqual([`${DEMO_HOST}:${DEMO_PORTS.userHealth}`]);
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

  // Issue 16: the gRPC-Web page in real headless Chromium, served on :7190 and calling the gateway on :7180.
  it('serves the gRPC-Web page, and Chromium shows GetUser, the streamed ListUsers and a NOT_FOUND', async (ctx) => {
    if (!chromiumInstalled()) ctx.skip('Debian chromium is not installed (/usr/bin/chromium; .ci/run installs it)');
    expect(existsSync(DEMO), 'build output missing: run `npm run build` (npm test does)').toBe(true);
    const child = spawn(process.execPath, [DEMO], { cwd: ROOT, env: { ...process.env, CONSUL_HTTP_ADDR: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const pageUrl = new Promise<string>((resolve, reject) => {
      const onData = (c: Buffer) => {
        out += c.toString();
        const m = /web page \(gRPC-Web through meshlet at \S+\): (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      void exited.then((code) => reject(new Error(`demo exited (${code}) before printing the page URL:\n${out}`)));
    });
    const browser = await launchChromium().catch((err: unknown) => {
      child.kill('SIGTERM');
      throw err;
    });
    try {
      const url = await pageUrl;
      runDir = runDirOf(out);
      expect(url).toBe(`http://${DEMO_HOST}:${DEMO_PORTS.webPage}/?api=${encodeURIComponent(`http://${DEMO_HOST}:${DEMO_PORTS.webGateway}`)}`);
      const page = await browser.context.newPage();
      await page.goto(url);
      await page.waitForSelector('#done:has-text("all calls done")', { timeout: 20_000 });
      expect(await page.textContent('#user')).toBe('u-1 Ada Lovelace <ada@example.com>');
      expect(await page.textContent('#error')).toBe('NOT_FOUND: user "u-999" not found');
      expect(await page.textContent('#list-status')).toBe('done: 12 users');
      const rows = await page.$$eval('#users li', (lis) => lis.map((li) => li.textContent));
      expect(rows).toHaveLength(12);
      expect(rows[0]).toBe('u-1 Ada Lovelace');
      expect(rows[11]).toBe('u-12 John Backus');
      // Bad input from the page's origin (CORS applies): a garbage body and a wrong content type get clear answers,
      // and the page's calls still work afterwards.
      const api = `http://${DEMO_HOST}:${DEMO_PORTS.webGateway}`;
      const bad = await page.evaluate(async (base) => {
        const garbage = await fetch(`${base}/user.v1.UserService/GetUser`, { method: 'POST', headers: { 'content-type': 'application/grpc-web-text' }, body: '!!not base64!!' });
        const wrong = await fetch(`${base}/user.v1.UserService/GetUser`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        return { garbage: [garbage.status, atob(await garbage.text())], wrong: [wrong.status, await wrong.text()] };
      }, api);
      expect(bad.garbage[0]).toBe(200);
      expect(bad.garbage[1]).toContain('x-meshlet-error: ERR_GRPCWEB_BAD_BODY');
      expect(bad.wrong).toEqual([415, expect.stringContaining('got content-type "application/json"')]);
      await page.reload();
      await page.waitForSelector('#done:has-text("all calls done")', { timeout: 20_000 });
      expect(await page.textContent('#user')).toBe('u-1 Ada Lovelace <ada@example.com>');
    } finally {
      await browser.close();
      child.kill('SIGTERM');
      expect(await exited, out).toBe(0);
    }
  }, 90_000);
});
