// SPDX-License-Identifier: Apache-2.0
// Per-request load balancing and Consul discovery through a real outbound sidecar, against real in-process
// upstreams and the Consul double (issue 3 acceptance).

import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { echoClient, startEcho, unary, type EchoClient, type EchoServer } from '../helpers/echo.js';
import { startSidecar, type Sidecar } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';
import { startConsulDouble, type ConsulDouble } from '../doubles/consul.js';
import { useScoped } from '../helpers/scoped.js';

const { defer, sidecar } = useScoped({ level: 'silent' });

async function echoes(n: number, slowIndex = -1, slowMs = 0): Promise<EchoServer[]> {
  const list: EchoServer[] = [];
  for (let i = 0; i < n; i++) {
    const e = await startEcho({}, i === slowIndex ? { delayMs: slowMs } : { delayMs: slowMs > 0 ? 1 : 0 });
    defer(() => e.close());
    list.push(e);
  }
  return list;
}

function client(s: Sidecar, authority: string): EchoClient {
  const c = echoClient(s.outbound as string, authority);
  defer(() => c.close());
  return c;
}

/** Runs `total` calls with `concurrency` workers; returns the errors. */
async function load(c: EchoClient, total: number, concurrency: number, md?: (i: number) => grpc.Metadata): Promise<grpc.ServiceError[]> {
  const errors: grpc.ServiceError[] = [];
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const r = await unary(c, Buffer.from('x'), md?.(i) ?? new grpc.Metadata());
      if (r.err) errors.push(r.err);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return errors;
}

describe('per-request balancing (static endpoints)', () => {
  it('round_robin spreads 3000 calls over 3 endpoints within ±5 %', async () => {
    const es = await echoes(3);
    const s = await sidecar({
      service: { name: 'caller' },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: { echo: { endpoints: es.map((e) => e.address), balancing: { policy: 'round_robin' } } },
    });
    // One client connection: balancing is per request, not per connection.
    expect(await load(client(s, 'echo'), 3000, 20)).toEqual([]);
    for (const e of es) {
      expect(e.calls.length).toBeGreaterThanOrEqual(950);
      expect(e.calls.length).toBeLessThanOrEqual(1050);
    }
  });

  // Under 25 %, not 15 %: least_request chooses between its two draws in proportion to weight / cost (issue 13), so
  // a slow endpoint keeps a small share instead of none; round robin would give it 33 %.
  it('least_request sends under 25 % of calls to an endpoint 10x slower', async () => {
    const es = await echoes(3, 0, 20); // endpoint 0 answers in ~20 ms, the others in ~1-2 ms
    const s = await sidecar({
      service: { name: 'caller' },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: { echo: { endpoints: es.map((e) => e.address) } }, // least_request is the default
    });
    expect(await load(client(s, 'echo'), 1500, 10)).toEqual([]);
    const share = (es[0] as EchoServer).calls.length / 1500;
    expect(share).toBeLessThan(0.25);
  });

  it('weights are respected', async () => {
    const es = await echoes(2);
    const s = await sidecar({
      service: { name: 'caller' },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: {
        echo: {
          endpoints: [{ address: (es[0] as EchoServer).address, weight: 3 }, (es[1] as EchoServer).address],
          balancing: { policy: 'round_robin' },
        },
      },
    });
    expect(await load(client(s, 'echo'), 800, 10)).toEqual([]);
    expect((es[0] as EchoServer).calls.length).toBe(600);
  });

  it('least_request honours endpoint weights end to end: a 9:1 backend sends most calls to the heavy endpoint (issue 13)', async () => {
    const es = await echoes(2);
    const s = await sidecar({
      service: { name: 'caller' },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: {
        echo: {
          endpoints: [{ address: (es[0] as EchoServer).address, weight: 9 }, (es[1] as EchoServer).address],
          balancing: { policy: 'least_request' },
        },
      },
    });
    // One call at a time, so in-flight counts stay equal and the choice is P2C with Envoy's weight / cost. The cost
    // is the peak-EWMA latency, and here latencies are real: the heavier endpoint takes most samples and so most
    // of the machine's stalls, and its estimate runs higher, which moves the split toward the lighter one by
    // design (3:1 measured 59.9-62.9 % instead of 75 % in loaded CI runs). The exact split (1:3 within ±10 % over
    // 1,000 calls) is checked with seeded randomness and a fake clock in test/unit/balance/weighted-distribution
    // .test.ts. Here: the weights reach the picker. 9:1 expects 90 %; an unweighted picker gives 50 %, and it would
    // take the heavy endpoint's estimate running four times the light one's for this to fall under 70 %.
    expect(await load(client(s, 'echo'), 800, 1)).toEqual([]);
    const share = (es[0] as EchoServer).calls.length / 800;
    expect(share, `weight-9 endpoint got ${(share * 100).toFixed(1)} %`).toBeGreaterThanOrEqual(0.7);
    expect(share, `weight-9 endpoint got ${(share * 100).toFixed(1)} %`).toBeLessThanOrEqual(0.97);
  });
});

describe('Consul discovery through the sidecar', () => {
  async function consul(): Promise<ConsulDouble> {
    const d = await startConsulDouble();
    defer(() => d.close());
    return d;
  }

  function consulSidecar(d: ConsulDouble, balancing?: object) {
    return sidecar({
      service: { name: 'caller', address: '127.0.0.1' },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: balancing ? { echo: { balancing } } : {},
      consul: { address: d.address, waitMs: 10_000, register: false },
    });
  }

  it('discovers endpoints lazily on the first call and balances over them', async () => {
    const d = await consul();
    const es = await echoes(2);
    for (const e of es) d.addInstance({ service: 'echo', port: e.port, address: '127.0.0.1' });
    const s = await consulSidecar(d);
    expect(d.requestsTo('/v1/health/service/echo')).toHaveLength(0); // nothing watched before it is used
    expect(await load(client(s, 'echo'), 200, 10)).toEqual([]);
    expect(es.map((e) => e.calls.length > 0)).toEqual([true, true]);
  });

  it('an endpoint removed in Consul gets no new calls after one blocking-query round', async () => {
    const d = await consul();
    const es = await echoes(3);
    const ids = es.map((e) => d.addInstance({ service: 'echo', port: e.port, address: '127.0.0.1' }));
    const s = await consulSidecar(d, { policy: 'round_robin' });
    const c = client(s, 'echo');
    expect(await load(c, 30, 3)).toEqual([]);
    await d.waitFor(() => d.blockedCount() === 1, 'the watch is parked in a blocking query');
    const readsBefore = d.requestsTo('/v1/health/service/echo').length;
    d.removeInstance(ids[2] as string);
    const backend = s.app.backends?.get('echo');
    await waitUntil(() => backend?.endpoints.length === 2, 'the sidecar sees 2 endpoints');
    // The change came back on the read that was already blocked: one round, no polling.
    expect(d.requestsTo('/v1/health/service/echo').length - readsBefore).toBeLessThanOrEqual(1);
    const before = (es[2] as EchoServer).calls.length;
    expect(await load(c, 300, 10)).toEqual([]);
    expect((es[2] as EchoServer).calls.length).toBe(before);
  });

  it('ring_hash keeps over 60 % of keys on the same endpoint when a 4th endpoint joins', async () => {
    const d = await consul();
    const es = await echoes(4);
    for (const e of es.slice(0, 3)) d.addInstance({ service: 'echo', port: e.port, address: '127.0.0.1' });
    const s = await consulSidecar(d, { policy: 'ring_hash', hashHeader: 'x-user' });
    const c = client(s, 'echo');
    const keys = Array.from({ length: 300 }, (_, i) => `user-${i}`);
    const owner = async (): Promise<Map<string, number>> => {
      const seen = es.map((e) => e.calls.length);
      const out = new Map<string, number>();
      for (const k of keys) {
        const md = new grpc.Metadata();
        md.set('x-user', k);
        const r = await unary(c, Buffer.from(k), md);
        expect(r.err).toBeNull();
        const idx = es.findIndex((e, i) => e.calls.length > (seen[i] as number));
        seen[idx] = (seen[idx] as number) + 1;
        out.set(k, idx);
      }
      return out;
    };
    const before = await owner();
    expect(new Set(before.values()).size).toBe(3);
    d.addInstance({ service: 'echo', port: (es[3] as EchoServer).port, address: '127.0.0.1' });
    const backend = s.app.backends?.get('echo');
    await waitUntil(() => backend?.endpoints.length === 4, 'the sidecar sees the 4th endpoint');
    const after = await owner();
    const stayed = keys.filter((k) => before.get(k) === after.get(k)).length / keys.length;
    expect(stayed).toBeGreaterThan(0.6);
    // Keys that moved went to the new endpoint only.
    for (const k of keys) if (before.get(k) !== after.get(k)) expect(after.get(k)).toBe(3);
  });

  it('Consul down after the first result: calls keep succeeding and /ready stays 200', async () => {
    const d = await consul();
    const es = await echoes(2);
    for (const e of es) d.addInstance({ service: 'echo', port: e.port, address: '127.0.0.1' });
    const s = await consulSidecar(d, { policy: 'round_robin' });
    const c = client(s, 'echo');
    expect(await load(c, 20, 2)).toEqual([]);
    await d.outage(true);
    const backend = s.app.backends?.get('echo');
    await waitUntil(() => backend?.lastError !== undefined, 'the watch reports the outage');
    expect(await load(c, 500, 10)).toEqual([]);
    expect(backend?.endpoints).toHaveLength(2);
    const ready = await fetch(`http://${s.admin}/ready`);
    expect(ready.status).toBe(200);
    // Recovery after the outage (rate-limited, jittered) is covered on a manual clock in the watcher's unit tests.
  });

  it('registers the local service with a gRPC check on start and deregisters on shutdown', async () => {
    const d = await consul();
    const e = (await echoes(1))[0] as EchoServer;
    const s = await startSidecar(
      {
        service: { name: 'echo', address: '127.0.0.1', tags: ['grpc'], weight: 5 },
        inbound: { listen: '127.0.0.1:0', app: e.address },
        consul: { address: d.address },
      },
      { level: 'silent' },
    );
    const port = Number((s.inbound as string).split(':')[1]);
    expect(d.registrations).toHaveLength(1);
    expect(d.registrations[0]).toMatchObject({
      Name: 'echo',
      Address: '127.0.0.1',
      Port: port,
      Tags: ['grpc'],
      Weights: { Passing: 5, Warning: 1 },
      Checks: [{ GRPC: `127.0.0.1:${port}`, Interval: '10s', Timeout: '2s', DeregisterCriticalServiceAfter: '60s' }],
    });
    await s.close();
    expect(d.requestsTo('/v1/agent/service/deregister/')).toHaveLength(1);
  });

  it('starts and serves static backends while Consul is unreachable, registering once it is back', async () => {
    const d = await consul();
    await d.outage(true);
    const e = (await echoes(1))[0] as EchoServer;
    const s = await sidecar({
      service: { name: 'caller', address: '127.0.0.1' },
      inbound: { listen: '127.0.0.1:0', app: e.address },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: { echo: { endpoints: [e.address] } },
      consul: { address: d.address },
    });
    expect(s.app.consul?.registrar?.state).toBe('failing');
    expect(await load(client(s, 'echo'), 20, 2)).toEqual([]);
    await d.outage(false);
    await waitUntil(() => s.app.consul?.registrar?.state === 'registered', 'registration retried', 10_000);
  });
});
