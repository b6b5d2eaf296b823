// SPDX-License-Identifier: Apache-2.0
// Two sidecars whose certificates come from the built-in CA through config alone (`mtls.source.ca`): each issues
// its own short-lived leaf, renews it at half-life under continuous load without failing a call, and shows what it
// holds on /certs, /ready and /metrics.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initCa } from '../../src/tls/ca.js';
import { useCleanup } from '../helpers/cleanup.js';
import { echoClient, startEcho, unary } from '../helpers/echo.js';
import { scrape } from '../helpers/prom-text.js';
import { startSidecar } from '../helpers/sidecar.js';

const defer = useCleanup();
// The schema's shortest leaf: 10 s, renewed at half-life, so each sidecar rotates about every 5 s.
const LEAF_TTL_MS = 10_000;

interface CertsDoc {
  source: string;
  identity: string;
  generation: number;
  expiresInSeconds: number;
  chain: Array<{ uriSANs: string[] }>;
}

async function certs(admin: string): Promise<CertsDoc> {
  const res = await fetch(`http://${admin}/certs`);
  expect(res.status).toBe(200);
  return (await res.json()) as CertsDoc;
}

async function mesh() {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-ca-'));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  await initCa({ dir, trustDomain: 'mesh.test', intermediate: true });
  const mtls = { trustDomain: 'mesh.test', source: { ca: { dir, leafTtlMs: LEAF_TTL_MS } } };
  const echo = await startEcho();
  defer(() => echo.close());
  const callee = await startSidecar({
    service: { name: 'echo' },
    inbound: { listen: '127.0.0.1:0', app: echo.address },
    mtls: { ...mtls, inbound: { mode: 'strict' } },
  });
  defer(() => callee.close());
  const caller = await startSidecar({
    service: { name: 'web' },
    outbound: { listen: '127.0.0.1:0' },
    upstreams: { echo: { endpoints: [callee.inbound as string] } },
    mtls: { ...mtls, outbound: { mode: 'mtls' } },
  });
  defer(() => caller.close());
  const client = echoClient(caller.outbound as string, 'echo');
  defer(() => client.close());
  return { echo, callee, caller, client };
}

describe('mTLS with the built-in CA (mtls.source.ca)', () => {
  it('derives each identity from config, and shows it on /certs, /ready and /metrics', async () => {
    const { callee, caller, client } = await mesh();
    const r = await unary(client, Buffer.from('hello'));
    expect(r.err ?? undefined).toBeUndefined();
    expect((await certs(callee.admin)).identity).toBe('spiffe://mesh.test/svc/echo');
    const mine = await certs(caller.admin);
    expect(mine).toMatchObject({ source: 'ca', identity: 'spiffe://mesh.test/svc/web', generation: 1 });
    expect(mine.chain[0]?.uriSANs).toEqual(['spiffe://mesh.test/svc/web']);
    expect(mine.expiresInSeconds).toBeGreaterThan(0);
    expect(mine.expiresInSeconds).toBeLessThanOrEqual(LEAF_TTL_MS / 1000 + 60); // notBefore is a minute early
    expect((await fetch(`http://${caller.admin}/ready`)).status).toBe(200);
    // The callee saw the caller's verified SPIFFE ID.
    const access = callee.logs.find((l) => l.msg === 'access' || l.component === 'access');
    expect(access?.peer_identity).toBe('spiffe://mesh.test/svc/web');
    const m = await scrape(caller.admin);
    const expiry = m.families.get('meshlet_tls_cert_expiration_timestamp_seconds')?.samples[0];
    expect(expiry?.labels.identity).toBe('spiffe://mesh.test/svc/web');
    expect(Math.abs((expiry?.value ?? 0) * 1000 - (Date.now() + mine.expiresInSeconds * 1000))).toBeLessThan(2000);
  });

  it('renews both leaves at half-life under continuous load with zero failed calls', async () => {
    const { callee, caller, client } = await mesh();
    const calleeStart = (await certs(callee.admin)).generation;
    const callerStart = (await certs(caller.admin)).generation;
    let ok = 0;
    const failures: string[] = [];
    let rotated = false;
    // Four callers back to back until both sidecars have renewed, then a last round on the new leaves.
    const worker = async () => {
      while (!rotated) {
        const r = await unary(client, Buffer.from('x'));
        if (r.err) failures.push(`${r.err.code} ${r.err.details}`);
        else ok++;
      }
    };
    const workers = Promise.all([worker(), worker(), worker(), worker()]);
    const deadline = Date.now() + 3 * LEAF_TTL_MS;
    for (;;) {
      const [a, b] = await Promise.all([certs(callee.admin), certs(caller.admin)]);
      if (a.generation > calleeStart && b.generation > callerStart) break;
      if (Date.now() > deadline) throw new Error(`no renewal within ${3 * LEAF_TTL_MS} ms (generations ${a.generation}, ${b.generation})`);
      // Poll on the calls' own completions rather than a timer: one more call, then look again.
      await unary(client, Buffer.from('poll'));
    }
    rotated = true;
    await workers;
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(100);
    // A fresh connection handshakes with the renewed leaves.
    const fresh = echoClient(caller.outbound as string, 'echo');
    defer(() => fresh.close());
    expect((await unary(fresh, Buffer.from('after'))).err ?? undefined).toBeUndefined();
    const renewals = (await scrape(caller.admin)).families.get('meshlet_tls_cert_generation')?.samples[0]?.value;
    expect(renewals).toBeGreaterThan(callerStart);
  }, 60_000);
});
