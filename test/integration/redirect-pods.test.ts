// SPDX-License-Identifier: Apache-2.0
// The traffic redirect end to end, with network namespaces as pods (test/helpers/netns.ts) and real iptables:
//   client pod (no sidecar)  ──▶ order pod: [redirect] → meshlet (UID 4242) → order-service
//                                 order-service dials user-service:7101 → [redirect] → meshlet outbound
//                                   ──mTLS──▶ user pod: [redirect] → meshlet (UID 4242, strict) → user-service
// Every pod runs the built CLI as its init container would (`meshlet iptables`), each app listens where it would
// without a mesh and dials names from its /etc/hosts, and the sidecars' access logs prove where calls went. Port
// 7102 (a second user-service, on every address) is excluded from the redirect on both sides.

import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetnsLab, netnsSkipReason, type NetnsLab, type Pod } from '../helpers/netns.js';
import { parsePrometheusText } from '../helpers/prom-text.js';
import { usePki } from '../helpers/test-pki.js';
import { waitUntil } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MESHLET = `${ROOT}dist/src/main.js`;
const CALL = `${ROOT}test/fixtures/redirect/grpc-call.mjs`;
const USER_PROTO = `${ROOT}examples/services/user-service/user.proto`;
const ORDER_PROTO = `${ROOT}examples/services/order-service/order.proto`;
/** The sidecar's UID (the image's user; `meshlet iptables --proxy-uid` default) and the apps' UID. */
const PROXY_UID = 4242;
const APP_UID = 1000;
const EXCLUDED = 7102;
const ORDER_ID = 'spiffe://meshlet.local/svc/order-service';
const skip = netnsSkipReason();

type LogLine = Record<string, unknown>;

/** A process whose stdout JSON lines are collected as they come. */
interface Running {
  readonly child: ChildProcess;
  readonly lines: LogLine[];
  output(): string;
}

function collect(child: ChildProcess): Running {
  const lines: LogLine[] = [];
  let text = '';
  let buf = '';
  child.stdout?.on('data', (c: Buffer) => {
    text += c.toString();
    buf += c.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr?.on('data', (c: Buffer) => (text += c.toString()));
  return { child, lines, output: () => text };
}

const accessLines = (r: Running) => r.lines.filter((l) => l.access === true);

describe.skipIf(skip !== undefined)(`traffic redirect between pods${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const pki = usePki();
  let lab: NetnsLab;
  let client: Pod;
  let order: Pod;
  let user: Pod;
  let orderSidecar: Running;
  let userSidecar: Running;
  let configDir: string;
  const processes: Running[] = [];

  /** Runs `argv` in `pod` as `uid`, waiting until its stdout has a line `ready` accepts (or it exits). */
  async function start(pod: Pod, argv: string[], uid: number, ready: (l: LogLine) => boolean, env: NodeJS.ProcessEnv = {}): Promise<Running> {
    const r = collect(lab.spawn(pod, argv, { uid, cwd: ROOT, env }));
    processes.push(r);
    let exited = false;
    r.child.on('exit', () => (exited = true));
    await waitUntil(() => exited || r.lines.some(ready), `${argv.join(' ')} in ${pod.name} to be ready`, 20_000);
    if (exited) throw new Error(`${argv.join(' ')} in ${pod.name} exited:\n${r.output()}`);
    return r;
  }

  const sidecarReady = (l: LogLine) => typeof l.msg === 'string' && /meshlet started|listening/i.test(l.msg) && 'admin' in l;

  function sidecarConfig(name: string, body: string): string {
    const file = join(configDir, `${name}.yaml`);
    const leaf = pki.leaf(pki.ca('mesh'), name);
    writeFileSync(
      file,
      `service:\n  name: ${name}\n${body}admin:\n  listen: 127.0.0.1:6191\n` +
        `mtls:\n  source:\n    files:\n      certFile: ${leaf.certFile}\n      keyFile: ${leaf.keyFile}\n` +
        `      trustBundleFile: ${pki.ca('mesh').certFile}\n`,
      { mode: 0o644 },
    );
    return file;
  }

  async function redirect(pod: Pod): Promise<void> {
    const r = await lab.exec(pod, [process.execPath, MESHLET, 'iptables', '--exclude-inbound-ports', String(EXCLUDED), '--exclude-outbound-ports', String(EXCLUDED)], { cwd: ROOT });
    expect(r.code, r.stderr).toBe(0);
  }

  /** A call from an app in `pod` (UID 1000), as the app would make it: no meshlet address anywhere. */
  async function call(pod: Pod, proto: string, service: string, method: string, target: string, request: object): Promise<LogLine> {
    const r = await lab.exec(pod, [process.execPath, CALL, proto, service, method, target, JSON.stringify(request)], { uid: APP_UID, cwd: ROOT });
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as LogLine;
  }

  /** Calls handled by the sidecar of `pod` with these labels, from its admin /metrics (loopback of that pod). */
  async function handled(pod: Pod, labels: Record<string, string>): Promise<number> {
    const r = await lab.exec(pod, ['curl', '-sf', 'http://127.0.0.1:6191/metrics']);
    expect(r.code, r.stderr).toBe(0);
    return parsePrometheusText(r.stdout).sum('meshlet_grpc_handled_total', labels);
  }

  beforeAll(async () => {
    if (!existsSync(MESHLET)) throw new Error(`${MESHLET} is missing: run npm run build first`);
    // The sidecar runs as UID 4242: it must read its config and certificates (test-only keys, so world-readable).
    configDir = mkdtempSync(join(tmpdir(), 'meshlet-pods-'));
    chmodSync(configDir, 0o755);
    lab = createNetnsLab();
    client = lab.addPod('client');
    order = lab.addPod('order');
    user = lab.addPod('user');
    lab.setHosts({ 'order-service': order.ip, 'user-service': user.ip });

    const orderConfig = sidecarConfig(
      'order-service',
      `inbound:\n  listen: 0.0.0.0:6143\n  app: 127.0.0.1:7201\noutbound:\n  listen: 127.0.0.1:6140\n` +
        `upstreams:\n  user-service:\n    endpoints: ["${user.ip}:7101"]\n`,
    );
    const userConfig = sidecarConfig('user-service', 'inbound:\n  listen: 0.0.0.0:6143\n  app: 127.0.0.1:7101\n');
    // mTLS: order-service's sidecar is permissive (the client pod has no sidecar) and originates mTLS; user-service's
    // is strict. Both identities are spiffe://meshlet.local/svc/<service>.
    writeFileSync(orderConfig, `${readFileSync(orderConfig)}  inbound:\n    mode: permissive\n  outbound:\n    mode: mtls\n`);
    chmodSync(pki.dir, 0o755);
    for (const f of readdirSync(pki.dir)) chmodSync(join(pki.dir, f), 0o644);

    await redirect(order);
    await redirect(user);
    const listening = (l: LogLine) => l.msg === 'listening';
    await start(user, [process.execPath, 'dist/examples/services/user-service/main.js', '--port', '7101'], APP_UID, listening);
    await start(user, [process.execPath, 'dist/examples/services/user-service/main.js', '--host', '0.0.0.0', '--port', String(EXCLUDED)], APP_UID, listening);
    await start(order, [process.execPath, 'dist/examples/services/order-service/main.js', '--port', '7201'], APP_UID, listening, {
      USER_SERVICE_ADDR: 'user-service:7101',
    });
    userSidecar = await start(user, [process.execPath, MESHLET, 'run', '--config', userConfig], PROXY_UID, sidecarReady);
    orderSidecar = await start(order, [process.execPath, MESHLET, 'run', '--config', orderConfig], PROXY_UID, sidecarReady);
  }, 60_000);

  afterAll(async () => {
    await lab?.close();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  });

  it('runs each sidecar as its own UID, not as root', () => {
    for (const sidecar of [orderSidecar, userSidecar]) {
      // ip netns exec and setpriv exec in place, so the spawned pid is the sidecar's node process.
      const status = readFileSync(`/proc/${sidecar.child.pid}/status`, 'utf8');
      expect(status).toMatch(new RegExp(`^Uid:\\s+${PROXY_UID}\\s+${PROXY_UID}\\s+${PROXY_UID}\\s+${PROXY_UID}$`, 'm'));
      expect(readFileSync(`/proc/${sidecar.child.pid}/cmdline`, 'utf8').split('\0')).toContain('run');
    }
  });

  it('intercepts a call on both sides, crosses pods over mTLS and reaches the other app', async () => {
    const result = await call(client, ORDER_PROTO, 'order.v1.OrderService', 'GetOrder', 'order-service:7201', { id: 'o-1001' });
    expect(result.ok, JSON.stringify(result)).toBe(true);
    // The customer comes from user-service: the call went client → order pod → user pod.
    expect((result.response as { customer?: { id?: string } }).customer?.id).toMatch(/^u-\d+$/);

    await waitUntil(() => accessLines(userSidecar).some((l) => l.grpc_method === 'GetUser'), 'user sidecar access log');
    const inboundAtOrder = accessLines(orderSidecar).find((l) => l.direction === 'inbound' && l.grpc_method === 'GetOrder');
    expect(inboundAtOrder, orderSidecar.output()).toMatchObject({ grpc_code: 'OK', peer: expect.stringContaining(client.ip) });
    const outboundAtOrder = accessLines(orderSidecar).find((l) => l.direction === 'outbound' && l.grpc_method === 'GetUser');
    expect(outboundAtOrder, orderSidecar.output()).toMatchObject({ grpc_code: 'OK', upstream: `${user.ip}:7101` });
    const inboundAtUser = accessLines(userSidecar).find((l) => l.direction === 'inbound' && l.grpc_method === 'GetUser');
    // The peer identity is the SPIFFE ID of the order pod's certificate: the hop was mTLS (user's sidecar is strict).
    expect(inboundAtUser, userSidecar.output()).toMatchObject({ grpc_code: 'OK', peer_identity: ORDER_ID, peer: expect.stringContaining(order.ip) });
    // The sidecars' metrics count it too: outbound at the order pod, inbound at the user pod.
    expect(await handled(order, { direction: 'outbound', grpc_method: 'GetUser', grpc_code: 'OK' })).toBeGreaterThanOrEqual(1);
    expect(await handled(user, { direction: 'inbound', grpc_method: 'GetUser', grpc_code: 'OK' })).toBeGreaterThanOrEqual(1);
  });

  it('routes by the :authority the app dialled: user-service:7101 from the order pod goes through both sidecars', async () => {
    const before = accessLines(userSidecar).length;
    const result = await call(order, USER_PROTO, 'user.v1.UserService', 'GetUser', 'user-service:7101', { id: 'u-2' });
    expect(result).toMatchObject({ ok: true, response: { id: 'u-2' } });
    await waitUntil(() => accessLines(userSidecar).length > before, 'user sidecar access log');
    expect(accessLines(orderSidecar).some((l) => l.direction === 'outbound' && l.authority === 'user-service:7101')).toBe(true);
    expect(accessLines(userSidecar).at(-1)).toMatchObject({ grpc_method: 'GetUser', peer_identity: ORDER_ID });
  });

  it('lets traffic to an excluded port bypass both sidecars', async () => {
    const orderBefore = accessLines(orderSidecar).length;
    const userBefore = accessLines(userSidecar).length;
    const bypass = await call(order, USER_PROTO, 'user.v1.UserService', 'GetUser', `user-service:${EXCLUDED}`, { id: 'u-3' });
    expect(bypass).toMatchObject({ ok: true, response: { id: 'u-3' } });
    // A meshed call after it: once its lines are logged, a line of the bypassed call would be there too.
    await call(order, USER_PROTO, 'user.v1.UserService', 'GetUser', 'user-service:7101', { id: 'u-4' });
    await waitUntil(() => accessLines(userSidecar).length > userBefore, 'user sidecar access log');
    expect(accessLines(orderSidecar).slice(orderBefore).map((l) => l.authority)).toEqual(['user-service:7101']);
    expect(accessLines(userSidecar).slice(userBefore).map((l) => (l.peer as string).split(':')[0])).toEqual([order.ip]);
    expect(accessLines(userSidecar).slice(userBefore)).toHaveLength(1);
  });

  it('fails a call to an authority without an upstream with ERR_UNKNOWN_BACKEND, naming the authority', async () => {
    const result = await call(order, USER_PROTO, 'user.v1.UserService', 'GetUser', `${user.ip}:7101`, { id: 'u-1' });
    expect(result).toMatchObject({ ok: false, code: 14, meshletError: 'ERR_UNKNOWN_BACKEND' });
    expect(result.details).toContain(`"${user.ip}:7101"`);
  });
});
