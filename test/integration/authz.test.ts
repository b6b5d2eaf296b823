// SPDX-License-Identifier: Apache-2.0
// Inbound authorization through a real sidecar (issue 12): plaintext callers (no identity) of a grpc-js client get
// UNAUTHENTICATED from a deny-by-default policy whose allows need an identity and PERMISSION_DENIED from an explicit
// deny of a method, both with x-meshlet-error; the app never sees them; the decisions show in /metrics; a policy
// reload changes the rules for the next call without a restart.
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { bootstrapSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { useCleanup } from '../helpers/cleanup.js';
import { echoClient, startEcho, unary, type EchoClient, type EchoServer } from '../helpers/echo.js';
import { countingEvents, type CountingEvents } from '../helpers/resilience.js';
import { waitUntil } from '../helpers/wait.js';

const defer = useCleanup();

interface InboundSidecar {
  readonly app: App;
  readonly inbound: string;
  readonly events: CountingEvents;
  readonly logs: Array<Record<string, unknown>>;
  writePolicy(yaml: string): Promise<void>;
}

async function echo(): Promise<EchoServer> {
  const e = await startEcho();
  defer(() => e.close());
  return e;
}

/** An inbound-only sidecar in front of `app`, with `policyYaml` as its (watched) policy file. */
async function sidecar(app: string, policyYaml: string): Promise<InboundSidecar> {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-authz-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'policy.yaml');
  await writeFile(file, policyYaml);
  const config = bootstrapSchema.parse({
    service: { name: 'echo' },
    inbound: { listen: '127.0.0.1:0', app },
    admin: { listen: '127.0.0.1:0' },
    log: { level: 'info', accessLog: true },
    policy: { file, reloadDebounceMs: 50 },
  });
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const events = countingEvents();
  const a = await createApp(config, { log: createLogger({ level: 'info', destination }), resilienceEvents: events });
  const addresses = await a.start();
  defer(() => a.drain(0));
  return { app: a, inbound: `127.0.0.1:${addresses.inbound?.port}`, events, logs, writePolicy: (yaml) => writeFile(file, yaml) };
}

function client(address: string): EchoClient {
  const c = echoClient(address);
  defer(() => c.close());
  return c;
}

async function scrape(app: App): Promise<string> {
  return (await app.observability.metrics.scrape()).body;
}

const DENY_BY_DEFAULT = `
authz:
  services:
    test.Echo: { defaultAction: deny }
  rules:
    - name: peers-in-shop
      action: allow
      identities: ["spiffe://cluster.local/ns/shop/**"]
`;

const DENY_UNARY = `
authz:
  rules:
    - name: no-unary
      action: deny
      methods: ["test.Echo/Unary"]
`;

describe('inbound authz through a real sidecar', () => {
  it('answers a plaintext caller UNAUTHENTICATED when the default denies and only identities are allowed', async () => {
    const e = await echo();
    const s = await sidecar(e.address, DENY_BY_DEFAULT);
    const r = await unary(client(s.inbound), Buffer.from('x'));
    expect(r.err?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(r.trailers?.get('x-meshlet-error')).toEqual(['ERR_AUTHZ_UNAUTHENTICATED']);
    expect(e.calls).toHaveLength(0);
    expect(await scrape(s.app)).toContain(
      'meshlet_authz_decisions_total{grpc_service="test.Echo",grpc_method="Unary",decision="deny",rule="services.test.Echo.defaultAction",mode="enforce"} 1',
    );
    const warn = s.logs.find((l) => l['component'] === 'authz');
    expect(warn?.['msg']).toBe('authz: caller without identity denied by services.test.Echo.defaultAction');
  });

  it('answers PERMISSION_DENIED for an explicitly denied method and lets the others through', async () => {
    const e = await echo();
    const s = await sidecar(e.address, DENY_UNARY);
    const c = client(s.inbound);
    const r = await unary(c, Buffer.from('x'));
    expect(r.err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(r.trailers?.get('x-meshlet-error')).toEqual(['ERR_AUTHZ_DENIED']);
    expect(e.calls).toHaveLength(0);
    // Another method of the same service: no rule applies, the default allows.
    const stream = c.ServerStream(Buffer.from('y'), new grpc.Metadata());
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      stream.on('data', () => {});
      stream.on('error', () => {});
      stream.on('status', resolve);
    });
    expect(status.code).toBe(grpc.status.OK);
    const access = s.logs.filter((l) => l['access'] === true).map((l) => l['authz']);
    expect(access).toEqual([
      { decision: 'deny', rule: 'no-unary', mode: 'enforce' },
      { decision: 'allow', rule: 'defaultAction', mode: 'enforce' },
    ]);
  });

  it('applies changed rules to new calls after a reload, without a restart', async () => {
    const e = await echo();
    const s = await sidecar(e.address, 'routes: []\n');
    const c = client(s.inbound);
    expect((await unary(c, Buffer.from('x'))).err).toBeNull();

    await s.writePolicy(DENY_UNARY);
    await waitUntil(() => s.events.count('reload:applied') === 1, 'reload applied', 2000);
    expect((await unary(c, Buffer.from('x'))).err?.code).toBe(grpc.status.PERMISSION_DENIED);

    await s.writePolicy(DENY_UNARY.replace('authz:\n', 'authz:\n  mode: shadow\n'));
    await waitUntil(() => s.events.count('reload:applied') === 2, 'second reload applied', 2000);
    expect((await unary(c, Buffer.from('x'))).err).toBeNull();
    expect(await scrape(s.app)).toContain('meshlet_authz_decisions_total{grpc_service="test.Echo",grpc_method="Unary",decision="deny",rule="no-unary",mode="shadow"} 1');
    expect(e.calls).toHaveLength(2);
  });
});
