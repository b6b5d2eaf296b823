// SPDX-License-Identifier: Apache-2.0
// Global rate limits with a real redis-server (issue 15; no mock): two sidecar processes sharing one Redis admit
// the global rate ± 5 %, not twice it; Redis killed mid-test → calls keep flowing on the local fallback and global
// limiting resumes within a few seconds of its restart; a paused Redis (SIGSTOP) holds no call longer than the
// command timeout; an unreachable Redis at startup is a warning, not a crash, /ready stays green, and
// `failureMode: closed` answers UNAVAILABLE.
import * as grpc from '@grpc/grpc-js';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/schema.js';
import { useCleanup } from '../helpers/cleanup.js';
import { spawnMeshlet } from '../helpers/cli.js';
import { echoClient, startEcho, unary, type EchoClient } from '../helpers/echo.js';
import { idealAdmitted, offerLoad } from '../helpers/load.js';
import { scrape } from '../helpers/prom-text.js';
import { deadPort } from '../helpers/scoped.js';
import { startRedis } from '../helpers/redis.js';
import { startSidecar, type Sidecar } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';

const defer = useCleanup();
const redis = await startRedis();

function policy(yaml: string): Policy {
  const r = parsePolicy('policy.yaml', yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

async function echoApp(): Promise<string> {
  const e = await startEcho();
  defer(() => e.close());
  return e.address;
}

async function inbound(app: string, policyYaml: string, redisConfig: Record<string, unknown>): Promise<{ sidecar: Sidecar; client: EchoClient }> {
  const sidecar = await startSidecar(
    { service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app }, log: { level: 'info', accessLog: false }, redis: redisConfig as { address: string } },
    { policy: policy(policyYaml) },
  );
  defer(() => sidecar.close());
  const client = echoClient(sidecar.inbound as string);
  defer(() => client.close());
  return { sidecar, client };
}

/** Paced calls (one every `everyMs`) until stopped; counts results by outcome. */
function flow(client: EchoClient, everyMs: number) {
  const counts = { ok: 0, limited: 0, other: [] as string[], maxMs: 0 };
  const inflight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const t0 = performance.now();
    const p = unary(client, Buffer.from('x')).then((r) => {
      counts.maxMs = Math.max(counts.maxMs, performance.now() - t0);
      if (r.err === null) counts.ok++;
      else if (r.err.code === grpc.status.RESOURCE_EXHAUSTED) counts.limited++;
      else counts.other.push(`${r.err.code} ${String(r.trailers?.get('x-meshlet-error')[0])}`);
      inflight.delete(p);
    });
    inflight.add(p);
  }, everyMs);
  return {
    counts,
    async stop() {
      clearInterval(timer);
      await Promise.all([...inflight]);
    },
  };
}

async function metric(s: Sidecar, name: string, labels: Record<string, string> = {}): Promise<number> {
  return (await scrape(s.admin)).sum(name, labels);
}

/** A sidecar process; its JSON log lines are collected. */
function processSidecar(configFile: string): { child: ChildProcess; lines: Array<Record<string, unknown>> } {
  const child = spawnMeshlet(['run', '--config', configFile]);
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  child.stdout?.on('data', (c: Buffer) => {
    buf += c.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a JSON line
      }
    }
  });
  defer(async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  });
  return { child, lines };
}

describe('global rate limits through Redis', () => {
  it('two sidecar processes sharing one Redis admit the global rate ± 5 %, not twice it', async () => {
    const app = await echoApp();
    const dir = await mkdtemp(join(tmpdir(), 'meshlet-rl-global-'));
    defer(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'policy.yaml'), 'rateLimits:\n  - name: shared\n    rate: 100/s\n    burst: 100\n    scope: global\n');
    const sidecars = await Promise.all(
      ['a', 'b'].map(async (name) => {
        const file = join(dir, `${name}.yaml`);
        await writeFile(
          file,
          [
            'service: { name: echo }',
            `inbound: { listen: "127.0.0.1:0", app: "${app}" }`,
            'admin: { listen: "127.0.0.1:0" }',
            'log: { level: info, accessLog: true }',
            // A generous timeout: this test measures the shared bucket, so a slow answer on a busy test machine
            // must not switch a sidecar to its local fallback (which the fallback tests cover).
            `redis: { address: "${redis.address}", keyPrefix: "two-processes:", commandTimeoutMs: 2000 }`,
            `policy: { file: "${join(dir, 'policy.yaml')}" }`,
            '',
          ].join('\n'),
        );
        const p = processSidecar(file);
        await waitUntil(() => p.lines.some((l) => l['msg'] === 'meshlet listening') && p.lines.some((l) => String(l['msg']).startsWith('redis connected')), `sidecar ${name} listening with Redis`, 30_000);
        const listening = p.lines.find((l) => l['msg'] === 'meshlet listening') as Record<string, unknown>;
        const client = echoClient(String(listening['inbound']));
        defer(() => client.close());
        return { ...p, client, admin: String(listening['admin']) };
      }),
    );
    const [a, b] = await Promise.all(sidecars.map((s) => offerLoad(s.client, 250, 4000)));
    const ok = (a?.ok ?? 0) + (b?.ok ?? 0);
    expect([...(a?.other ?? []), ...(b?.other ?? [])]).toEqual([]);
    // Both sidecars admitted some: the bucket is shared, not owned by one.
    expect(a?.ok).toBeGreaterThan(50);
    expect(b?.ok).toBeGreaterThan(50);
    // On the sidecars' clocks (their access logs: end time minus duration is the arrival): never more than the
    // global budget (burst + rate × window), and within 5 % of what one ideal token bucket admits from the
    // arrivals at both sidecars together (which is the rate whenever the offered load keeps it from filling up).
    const calls = await waitForAccess(sidecars, (a?.ok ?? 0) + (a?.limited ?? 0) + (b?.ok ?? 0) + (b?.limited ?? 0));
    const arrivals = calls.map((l) => Date.parse(String(l['time'])) - Number(l['duration_ms'] ?? 0));
    const seconds = (Math.max(...arrivals) - Math.min(...arrivals)) / 1000;
    expect(ok).toBeLessThanOrEqual((100 + 100 * seconds) * 1.05);
    const ideal = idealAdmitted(arrivals, 100, 100);
    expect(Math.abs(ok - ideal) / ideal).toBeLessThanOrEqual(0.05);
    expect(ideal).toBeGreaterThan(100 + 100 * seconds * 0.5);
  }, 90_000);

  it('Redis killed mid-test: calls flow on the local fallback; global limiting resumes within seconds of its return', async () => {
    const app = await echoApp();
    const { sidecar, client } = await inbound(app, 'rateLimits:\n  - name: g\n    rate: 50/s\n    burst: 10\n    scope: global\n', {
      address: redis.address,
      keyPrefix: 'kill:',
      commandTimeoutMs: 200,
    });
    await waitUntil(() => sidecar.logs.some((l) => String(l['msg']).startsWith('redis connected')), 'redis connected');
    const f = flow(client, 10);
    try {
      await waitUntil(() => f.counts.ok >= 20, 'calls admitted through Redis leases', 10_000);
      expect(redis.cli('--scan', '--pattern', 'kill:echo:g:*')).toBe('kill:echo:g:');
      expect(await metric(sidecar, 'meshlet_ratelimit_redis_fallback_total')).toBe(0);

      await redis.kill();
      const okAtKill = f.counts.ok;
      await waitUntil(() => f.counts.ok >= okAtKill + 30, 'calls admitted on the local fallback', 10_000);
      expect(await metric(sidecar, 'meshlet_ratelimit_redis_fallback_total', { limit: 'g', result: 'local' })).toBeGreaterThan(0);
      expect(await metric(sidecar, 'meshlet_ratelimit_redis_up')).toBe(0);
      expect(sidecar.logs.some((l) => l['level'] === 'warn' && /redis (connection lost|lease failed)/.test(String(l['msg'])))).toBe(true);
      // /ready stays green: Redis is not a readiness dependency.
      expect((await fetch(`http://${sidecar.admin}/ready`)).status).toBe(200);

      const restarted = performance.now();
      await redis.restart();
      await waitUntil(() => sidecar.logs.some((l) => l['msg'] === 'redis leases work again: global rate limits are shared again'), 'global limiting resumed', 5000);
      expect(performance.now() - restarted).toBeLessThan(5000);
      const fallbackAfter = await metric(sidecar, 'meshlet_ratelimit_redis_fallback_total');
      const okAfter = f.counts.ok;
      await waitUntil(() => f.counts.ok >= okAfter + 20, 'calls admitted through Redis again', 10_000);
      expect(await metric(sidecar, 'meshlet_ratelimit_redis_fallback_total')).toBe(fallbackAfter);
      expect(redis.cli('--scan', '--pattern', 'kill:echo:g:*')).toBe('kill:echo:g:');
    } finally {
      await f.stop();
    }
    expect(f.counts.other).toEqual([]);
  }, 60_000);

  it('a paused Redis (SIGSTOP) holds no call longer than the command timeout', async () => {
    const app = await echoApp();
    // 2000/s: a lease (100 tokens) runs out every 50 ms, so calls need Redis all the time.
    const { sidecar, client } = await inbound(app, 'rateLimits:\n  - name: fast\n    rate: 2000/s\n    burst: 100\n    scope: global\n', {
      address: redis.address,
      keyPrefix: 'pause:',
      commandTimeoutMs: 300,
    });
    await waitUntil(() => sidecar.logs.some((l) => String(l['msg']).startsWith('redis connected')), 'redis connected');
    const warm = await Promise.all(Array.from({ length: 20 }, () => unary(client, Buffer.from('x'))));
    expect(warm.every((r) => r.err === null)).toBe(true);
    // The same calls with Redis answering: the baseline latency of this (busy) machine.
    const before = flow(client, 5);
    await waitUntil(() => before.counts.ok >= 100, 'baseline calls', 10_000);
    await before.stop();

    redis.pause();
    const f = flow(client, 5);
    try {
      await waitUntil(() => f.counts.ok >= 150, 'calls during the pause', 20_000);
      expect(await metric(sidecar, 'meshlet_ratelimit_redis_errors_total', { reason: 'timeout' })).toBeGreaterThanOrEqual(1);
    } finally {
      await f.stop();
      redis.resume();
    }
    expect(f.counts.other).toEqual([]);
    expect(f.counts.limited).toBe(0);
    // At most the command timeout on top of what a call takes anyway; never the length of the pause.
    expect(f.counts.maxMs).toBeLessThan(300 + before.counts.maxMs + 200);
    // Calls after SIGCONT probe Redis (in the background) and global leasing resumes.
    const after = flow(client, 20);
    try {
      await waitUntil(() => sidecar.logs.some((l) => l['msg'] === 'redis leases work again: global rate limits are shared again'), 'recovery after SIGCONT', 5000);
    } finally {
      await after.stop();
    }
  }, 60_000);

  it('an unreachable Redis at startup is a warning, not a crash: open falls back to a local bucket, closed answers UNAVAILABLE', async () => {
    const app = await echoApp();
    const port = await deadPort();
    const limits = (failureMode: string) => `rateLimits:\n  - name: u\n    rate: 1/m\n    burst: 3\n    scope: global\n    failureMode: ${failureMode}\n`;
    const open = await inbound(app, limits('open'), { address: `127.0.0.1:${port}`, connectTimeoutMs: 200 });
    await waitUntil(() => open.sidecar.logs.some((l) => String(l['msg']).startsWith(`redis unreachable at 127.0.0.1:${port}`)), 'the startup warning');
    const results = await Promise.all(Array.from({ length: 5 }, () => unary(open.client, Buffer.from('x'))));
    expect(results.filter((r) => r.err === null)).toHaveLength(3);
    expect(results.filter((r) => r.err?.code === grpc.status.RESOURCE_EXHAUSTED)).toHaveLength(2);
    expect((await fetch(`http://${open.sidecar.admin}/ready`)).status).toBe(200);

    const closed = await inbound(app, limits('closed'), { address: `127.0.0.1:${port}`, connectTimeoutMs: 200 });
    const r = await unary(closed.client, Buffer.from('x'));
    expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(r.trailers?.get('x-meshlet-error')).toEqual(['ERR_RATELIMIT_UNAVAILABLE']);
    expect(await metric(closed.sidecar, 'meshlet_ratelimit_redis_fallback_total', { limit: 'u', result: 'unavailable' })).toBe(1);
  }, 30_000);
});

/** Waits until the processes have logged `n` access lines in all (stdout is asynchronous), then returns them. */
async function waitForAccess(sidecars: ReadonlyArray<{ lines: Array<Record<string, unknown>> }>, n: number): Promise<Array<Record<string, unknown>>> {
  const access = () => sidecars.flatMap((s) => s.lines.filter((l) => l['access'] === true));
  await waitUntil(() => access().length >= n, `${n} access lines`, 10_000);
  return access();
}
