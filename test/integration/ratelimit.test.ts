// SPDX-License-Identifier: Apache-2.0
// Local rate limits through a real sidecar in front of the echo app (issue 15): a 100/s limit admits 100 ± 5 per
// second under 500/s offered; a burst is admitted up to its size; per-caller buckets keyed by the verified mTLS
// SPIFFE ID keep one caller's rate whole while another floods at 10×; shadow counts without rejecting; a policy
// reload changes a limit without a restart and without failing a call.
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/schema.js';
import { useCleanup } from '../helpers/cleanup.js';
import { echoClient, startEcho, unary, type EchoClient } from '../helpers/echo.js';
import { fakeCertSource } from '../helpers/fake-cert-source.js';
import { idealAdmitted, offerLoad } from '../helpers/load.js';
import { scrape } from '../helpers/prom-text.js';
import { startSidecar, type Sidecar } from '../helpers/sidecar.js';
import { usePki } from '../helpers/test-pki.js';
import { waitUntil } from '../helpers/wait.js';

const defer = useCleanup();
const pki = usePki();
const root = pki.ca('root');
const UNUSED_SOURCE = { files: { certFile: 'unused.crt', keyFile: 'unused.key', trustBundleFile: 'unused.pem' } };

function policy(yaml: string): Policy {
  const r = parsePolicy('policy.yaml', yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

async function inbound(policyYaml: string, extra: { policyFile?: string; accessLog?: boolean } = {}): Promise<{ sidecar: Sidecar; client: EchoClient }> {
  const echo = await startEcho();
  defer(() => echo.close());
  const sidecar = await startSidecar(
    {
      service: { name: 'echo' },
      inbound: { listen: '127.0.0.1:0', app: echo.address },
      log: { level: 'info', accessLog: extra.accessLog ?? false },
      ...(extra.policyFile !== undefined ? { policy: { file: extra.policyFile, reloadDebounceMs: 50 } } : {}),
    },
    extra.policyFile !== undefined ? {} : { policy: policy(policyYaml) },
  );
  defer(() => sidecar.close());
  const client = echoClient(sidecar.inbound as string);
  defer(() => client.close());
  return { sidecar, client };
}

function caller(name: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('x-caller', name);
  return md;
}

async function decisions(s: Sidecar, limit: string, decision: string): Promise<number> {
  const m = await scrape(s.admin);
  return m.sum('meshlet_ratelimit_decisions_total', { limit, decision });
}

describe('local rate limits', () => {
  it('a 100/s limit admits 100 ± 5 per second under 500/s offered', async () => {
    const { sidecar, client } = await inbound('rateLimits:\n  - name: hundred\n    rate: 100/s\n    burst: 50\n', { accessLog: true });
    const r = await offerLoad(client, 500, 3000);
    expect([...r.other]).toEqual([]);
    expect(r.limited).toBeGreaterThan(r.ok);
    // Measured on the sidecar's clock (its access log: end time minus duration is the arrival), so a busy test
    // machine that delays the client's sends does not skew it. The bucket starts with its burst (50) and refills at
    // 100/s from the first arrival to the last: never more than that, and (within 5 %) what an ideal token bucket
    // admits from the same arrivals, which is 100/s whenever the offered load keeps the bucket from filling up.
    const access = sidecar.logs.filter((l) => l['access'] === true);
    expect(access).toHaveLength(r.ok + r.limited);
    const arrivals = access.map((l) => Date.parse(String(l['time'])) - Number(l['duration_ms'] ?? 0));
    const seconds = (Math.max(...arrivals) - Math.min(...arrivals)) / 1000;
    expect((r.ok - 50) / seconds).toBeLessThanOrEqual(105);
    const ideal = idealAdmitted(arrivals, 100, 50);
    expect(Math.abs(r.ok - ideal) / ideal).toBeLessThanOrEqual(0.05);
    expect(ideal).toBeGreaterThan(50 + 100 * seconds * 0.5);
    expect(await decisions(sidecar, 'hundred', 'admitted')).toBe(r.ok);
    expect(await decisions(sidecar, 'hundred', 'rejected')).toBe(r.limited);
  }, 30_000);

  it('admits a burst up to its size, then rejects with a pushback hint', async () => {
    const { client } = await inbound('rateLimits:\n  - name: burst\n    rate: 1/m\n    burst: 20\n');
    const results = await Promise.all(Array.from({ length: 30 }, () => unary(client, Buffer.from('x'))));
    expect(results.filter((r) => r.err === null)).toHaveLength(20);
    const rejected = results.filter((r) => r.err !== null);
    expect(rejected).toHaveLength(10);
    for (const r of rejected) {
      expect(r.err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(r.trailers?.get('x-meshlet-error')).toEqual(['ERR_RATELIMIT_EXCEEDED']);
      // One token per minute: the next one is up to 60 s away.
      const pushback = Number(r.trailers?.get('grpc-retry-pushback-ms')[0]);
      expect(pushback).toBeGreaterThan(55_000);
      expect(pushback).toBeLessThanOrEqual(60_000);
    }
  });

  it('per caller: a noisy caller at 10× its limit does not reduce another caller\'s admitted rate (caller header)', async () => {
    const { client } = await inbound('rateLimits:\n  - name: per-caller\n    rate: 50/s\n    burst: 25\n    by: [caller]\n    callerHeader: x-caller\n');
    const [noisy, quiet] = await Promise.all([offerLoad(client, 500, 2000, () => caller('noisy')), offerLoad(client, 20, 2000, () => caller('quiet'))]);
    // The quiet caller stays under its own limit (its burst absorbs a busy machine's bunched sends): all admitted.
    expect(quiet.ok).toBe(40);
    expect(quiet.limited).toBe(0);
    // The noisy one is held to its own limit: most of its 10× load is rejected.
    expect(noisy.limited).toBeGreaterThan(noisy.ok * 2);
  }, 20_000);

  it('shadow counts the calls it would reject and rejects none', async () => {
    const { sidecar, client } = await inbound('rateLimits:\n  - name: watch\n    rate: 1/m\n    burst: 5\n    mode: shadow\n');
    const results = await Promise.all(Array.from({ length: 12 }, () => unary(client, Buffer.from('x'))));
    expect(results.every((r) => r.err === null)).toBe(true);
    expect(await decisions(sidecar, 'watch', 'shadow_rejected')).toBe(7);
    expect(await decisions(sidecar, 'watch', 'rejected')).toBe(0);
    expect(sidecar.logs.some((l) => String(l['msg']).startsWith('rate limit shadow: watch would reject'))).toBe(true);
  });

  it('a reload changes a limit without a restart and without failing a call', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshlet-rl-'));
    defer(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'policy.yaml');
    await writeFile(file, 'rateLimits:\n  - name: r\n    rate: 1/m\n    burst: 3\n    mode: shadow\n');
    const { sidecar, client } = await inbound('', { policyFile: file });
    // Calls flow the whole time the policy changes under them.
    let stop = false;
    const failures: string[] = [];
    const flow = (async () => {
      while (!stop) {
        const r = await unary(client, Buffer.from('x'));
        if (r.err !== null && r.err.code !== grpc.status.RESOURCE_EXHAUSTED) failures.push(`${r.err.code} ${r.err.details}`);
      }
    })();
    await waitUntil(() => sidecar.logs.some((l) => String(l['msg']).startsWith('rate limit shadow: r would reject')), 'shadow rejections before the reload');
    await writeFile(file, 'rateLimits:\n  - name: r\n    rate: 1/m\n    burst: 3\n');
    await waitUntil(() => sidecar.logs.some((l) => String(l['msg']).startsWith('rate limit: r rejects')), 'enforced after the reload');
    stop = true;
    await flow;
    expect(failures).toEqual([]);
    expect(sidecar.app.policy.version).toBeGreaterThan(1);
  }, 20_000);
});

describe('outbound limits', () => {
  it('limit calls to one backend, per call (not per attempt), and say why to the local app', async () => {
    const echo = await startEcho();
    defer(() => echo.close());
    const other = await startEcho();
    defer(() => other.close());
    const sidecar = await startSidecar(
      {
        service: { name: 'caller' },
        outbound: { listen: '127.0.0.1:0' },
        log: { level: 'info', accessLog: true },
        upstreams: { echo: { endpoints: [echo.address] }, other: { endpoints: [other.address] } },
      },
      {
        policy: policy(
          'routes:\n  - match: { backend: echo }\n    retry: { retryOn: [unavailable] }\n' +
            'rateLimits:\n  - name: protect-echo\n    direction: outbound\n    match: { backend: echo }\n    rate: 1/m\n    burst: 2\n',
        ),
      },
    );
    defer(() => sidecar.close());
    const toEcho = echoClient(sidecar.outbound as string, 'echo');
    defer(() => toEcho.close());
    const toOther = echoClient(sidecar.outbound as string, 'other');
    defer(() => toOther.close());
    // The first call fails once and is retried: two attempts, one token.
    const retried = new grpc.Metadata();
    retried.set('fail-until-attempt', '2');
    retried.set('x-call-id', 'retried');
    const results = [await unary(toEcho, Buffer.from('x'), retried)];
    for (let i = 0; i < 2; i++) results.push(await unary(toEcho, Buffer.from('x')));
    expect(results.map((r) => r.err?.code ?? 0)).toEqual([0, 0, grpc.status.RESOURCE_EXHAUSTED]);
    // Outbound, the caller is the local app: the full message names the limit.
    expect(results[2]?.err?.details).toBe('meshlet rate limit protect-echo exceeded (1/m)');
    expect(echo.calls).toHaveLength(3);
    // Another backend is not limited.
    for (let i = 0; i < 3; i++) expect((await unary(toOther, Buffer.from('x'))).err).toBeNull();
    await waitUntil(() => sidecar.logs.filter((l) => l['access'] === true).length >= 6, 'access lines');
    expect(sidecar.logs.filter((l) => l['access'] === true)[2]).toMatchObject({ error_code: 'ERR_RATELIMIT_EXCEEDED', rate_limit: { decision: 'rejected', limit: 'protect-echo' } });
  });
});

describe('per-caller limits keyed by the mTLS identity', () => {
  it('gives each verified SPIFFE ID its own bucket: a noisy peer at 10× leaves another peer\'s rate whole', async () => {
    const echo = await startEcho();
    defer(() => echo.close());
    const callee = await startSidecar(
      {
        service: { name: 'echo' },
        inbound: { listen: '127.0.0.1:0', app: echo.address },
        log: { level: 'info', accessLog: false },
        mtls: { source: UNUSED_SOURCE, inbound: { mode: 'strict' } },
      },
      {
        certSource: fakeCertSource(pki.leaf(root, 'echo'), [root]),
        // callerHeader is there to prove the identity wins: the noisy peer forges the quiet one's header.
        policy: policy('rateLimits:\n  - name: per-peer\n    rate: 20/s\n    burst: 10\n    by: [caller]\n    callerHeader: x-caller\n'),
      },
    );
    defer(() => callee.close());
    const peer = async (name: string) => {
      const s = await startSidecar(
        {
          service: { name },
          outbound: { listen: '127.0.0.1:0' },
          log: { level: 'info', accessLog: false },
          upstreams: { echo: { endpoints: [callee.inbound as string] } },
          mtls: { source: UNUSED_SOURCE, outbound: { mode: 'mtls' } },
        },
        { certSource: fakeCertSource(pki.leaf(root, name), [root]) },
      );
      defer(() => s.close());
      const c = echoClient(s.outbound as string, 'echo');
      defer(() => c.close());
      return c;
    };
    const noisy = await peer('noisy');
    const quiet = await peer('quiet');
    const [n, q] = await Promise.all([offerLoad(noisy, 200, 2000, () => caller('quiet')), offerLoad(quiet, 8, 2000)]);
    // The quiet peer stays well under its own limit (its burst absorbs a busy machine's bunched sends): all admitted.
    expect(q.ok).toBe(16);
    expect(q.limited).toBe(0);
    expect(n.limited).toBeGreaterThan(n.ok * 2);
  }, 20_000);
});
