// SPDX-License-Identifier: Apache-2.0
// The Consul resolver: one shared watcher per backend (ref-counted), asynchronous delivery, late subscribers
// catching up, the last good set surviving an outage (error results, never empty sets), stats() and close().
import { afterEach, describe, expect, it } from 'vitest';
import { createConsulClient, type ConsulClient } from '../../../../src/discovery/consul/client.js';
import { createConsulResolver, type ConsulResolver } from '../../../../src/discovery/consul/resolver.js';
import type { Resolution, ResolutionUpdate } from '../../../../src/discovery/resolver.js';
import { startConsulDouble, type ConsulDouble } from '../../../doubles/consul.js';
import { ManualClock, ResultLog, waitUntil } from './helpers.js';

let double: ConsulDouble | undefined;
let client: ConsulClient | undefined;
let resolver: ConsulResolver | undefined;

afterEach(async () => {
  resolver?.close();
  resolver = undefined;
  client?.close();
  client = undefined;
  await double?.close();
  double = undefined;
});

async function setup() {
  const d = await startConsulDouble();
  double = d;
  client = createConsulClient({ address: d.address });
  const clock = new ManualClock();
  const r = createConsulResolver({
    client,
    waitMs: 60_000,
    watcher: { clock, random: () => 0.5, minIntervalMs: 0, cpuShare: 1 },
  });
  resolver = r;
  const until = (pred: () => boolean, label: string, logs: ResultLog[] = []) =>
    waitUntil(pred, [d, clock, ...logs], label);
  return { d, clock, r, until };
}

describe('createConsulResolver', () => {
  it('shares one watcher per backend among subscribers and fans every result out to all', async () => {
    const { d, clock, r, until } = await setup();
    d.addInstance({ service: 'orders', port: 9000, nodeAddress: '10.0.0.1' });
    const a = new ResultLog();
    const b = new ResultLog();
    r.watch('orders', a.push);
    r.watch('orders', b.push);
    clock.runNext();
    await until(() => a.results.length === 1 && b.results.length === 1 && d.blockedCount() === 1, 'both', [a, b]);
    d.addInstance({ service: 'orders', port: 9000, nodeAddress: '10.0.0.2' });
    await until(() => a.results.length === 2 && b.results.length === 2, 'the change', [a, b]);
    expect(a.lastAddresses()).toEqual(['10.0.0.1:9000', '10.0.0.2:9000']);
    expect(b.results).toEqual(a.results);
    await until(() => d.blockedCount() === 1, 'parked');
    // One read per round, not one per subscriber.
    expect(d.requestsTo('/v1/health/service/orders')).toHaveLength(3);
    expect(r.stats()).toEqual([expect.objectContaining({ service: 'orders', subscribers: 2, endpoints: 2 })]);
  });

  it('watchChanges: a whole set first (a late subscriber too), then only the changes (issue 13)', async () => {
    const { d, clock, r, until } = await setup();
    const first = d.addInstance({ service: 'orders', port: 9000, nodeAddress: '10.0.0.1' });
    const collect = () => {
      const got: ResolutionUpdate[] = [];
      const log = new ResultLog();
      const push = (u: ResolutionUpdate) => {
        got.push(u);
        log.push(u as Resolution);
      };
      return { got, log, push };
    };
    const describe = (u: ResolutionUpdate | undefined) =>
      u?.ok !== true
        ? u
        : u.endpoints !== undefined
          ? { whole: u.endpoints.map((e) => e.address) }
          : { upserted: u.changes.upserted.map((e) => e.address), removed: u.changes.removed };
    const a = collect();
    const whole = new ResultLog();
    r.watchChanges('orders', a.push);
    r.watch('orders', whole.push);
    clock.runNext();
    await until(() => a.got.length === 1 && whole.results.length === 1 && d.blockedCount() === 1, 'first', [a.log, whole]);
    expect(describe(a.got[0])).toEqual({ whole: ['10.0.0.1:9000'] });

    d.addInstance({ service: 'orders', port: 9000, nodeAddress: '10.0.0.2' });
    await until(() => a.got.length === 2 && whole.results.length === 2, 'the addition', [a.log, whole]);
    expect(describe(a.got[1])).toEqual({ upserted: ['10.0.0.2:9000'], removed: [] });
    expect(whole.lastAddresses()).toEqual(['10.0.0.1:9000', '10.0.0.2:9000']); // watch() still gets whole sets

    const late = collect();
    r.watchChanges('orders', late.push);
    await until(() => late.got.length === 1, 'the catch-up', [late.log]);
    expect(describe(late.got[0])).toEqual({ whole: ['10.0.0.1:9000', '10.0.0.2:9000'] });

    d.removeInstance(first);
    await until(() => a.got.length === 3 && late.got.length === 2, 'the removal', [a.log, late.log]);
    expect(describe(a.got[2])).toEqual({ upserted: [], removed: ['10.0.0.1:9000'] });
    expect(late.got[1]).toEqual(a.got[2]);
  });

  it('never calls back synchronously from watch(), even for a backend already resolved', async () => {
    const { d, clock, r, until } = await setup();
    d.addInstance({ service: 'orders', port: 9000 });
    const a = new ResultLog();
    r.watch('orders', a.push);
    clock.runNext();
    await until(() => a.results.length === 1, 'first', [a]);
    const late = new ResultLog();
    r.watch('orders', late.push);
    expect(late.results).toHaveLength(0);
    await until(() => late.results.length === 1, 'the catch-up', [late]);
    expect(late.results[0]).toEqual(a.results[0]);
  });

  it('keeps the last good set through an outage: subscribers get error results, never an empty set', async () => {
    const { d, clock, r, until } = await setup();
    d.addInstance({ service: 'orders', port: 9000, nodeAddress: '10.0.0.1' });
    const a = new ResultLog();
    r.watch('orders', a.push);
    clock.runNext();
    await until(() => a.results.length === 1 && d.blockedCount() === 1, 'first', [a]);

    await d.outage(true, 'refuse');
    await until(() => a.results.length === 2, 'the error', [a]);
    expect(a.last?.ok).toBe(false);
    expect(r.stats()[0]).toMatchObject({ consecutiveErrors: 1, endpoints: 1 });

    // A subscriber arriving mid-outage starts from the last good set, then learns the source is failing.
    const late = new ResultLog();
    r.watch('orders', late.push);
    await until(() => late.results.length === 2, 'the catch-up', [late]);
    expect(late.results[0]?.ok && late.results[0].endpoints.map((e) => e.address)).toEqual(['10.0.0.1:9000']);
    expect(late.results[1]?.ok).toBe(false);

    clock.runNext(); // retry, still down: counted, but one error result per outage, not one per retry
    await until(() => r.stats()[0]?.consecutiveErrors === 2 && clock.pending() > 0, 'a second failed read');
    expect(a.results).toHaveLength(2);
    await d.outage(false);
    clock.runNext();
    await until(() => a.last?.ok === true, 'recovery', [a]);
    expect(a.results.filter((x) => x.ok && x.endpoints.length === 0)).toEqual([]);
    expect(a.lastAddresses()).toEqual(['10.0.0.1:9000']);
  });

  it('stops the watcher, and its read in flight, when the last subscriber closes', async () => {
    const { d, clock, r, until } = await setup();
    d.addInstance({ service: 'orders', port: 9000 });
    const a = new ResultLog();
    const b = new ResultLog();
    const wa = r.watch('orders', a.push);
    const wb = r.watch('orders', b.push);
    clock.runNext();
    await until(() => a.results.length === 1 && d.blockedCount() === 1, 'parked', [a]);
    wa.close();
    expect(r.stats()[0]?.subscribers).toBe(1);
    expect(d.blockedCount()).toBe(1);
    wb.close();
    wb.close();
    expect(r.stats()).toEqual([]);
    await d.waitFor(() => d.activeCount() === 0 && d.blockedCount() === 0, 'the read to be aborted');
    expect(clock.pending()).toBe(0);
    d.addInstance({ service: 'orders', port: 9001 });
    expect(a.results).toHaveLength(1);
    expect(b.results).toHaveLength(1);
  });

  it('starts a fresh watcher when a backend is watched again after going idle', async () => {
    const { d, clock, r, until } = await setup();
    d.addInstance({ service: 'orders', port: 9000 });
    const a = new ResultLog();
    r.watch('orders', a.push).close();
    expect(r.stats()).toEqual([]);
    expect(clock.pending()).toBe(0);
    const b = new ResultLog();
    r.watch('orders', b.push);
    clock.runNext();
    await until(() => b.results.length === 1, 'the new watcher', [b]);
    expect(a.results).toHaveLength(0);
    expect(r.stats()).toHaveLength(1);
  });

  it('keeps serving the other subscribers when one throws, and logs it', async () => {
    const d = await startConsulDouble();
    double = d;
    client = createConsulClient({ address: d.address });
    const clock = new ManualClock();
    const warnings: string[] = [];
    const log = { debug: () => {}, info: () => {}, warn: (_: object, msg: string) => void warnings.push(msg) };
    const r = createConsulResolver({ client, watcher: { clock, log, minIntervalMs: 0, cpuShare: 1 } });
    resolver = r;
    d.addInstance({ service: 'orders', port: 9000 });
    r.watch('orders', () => {
      throw new Error('subscriber bug');
    });
    const b = new ResultLog();
    r.watch('orders', b.push);
    clock.runNext();
    await waitUntil(() => b.results.length === 1, [d, clock, b], 'the healthy subscriber');
    expect(warnings).toEqual(['consul resolver subscriber threw']);
  });

  it('watches backends independently', async () => {
    const { d, clock, r, until } = await setup();
    d.addInstance({ service: 'orders', port: 9000 });
    d.addInstance({ service: 'users', port: 9100 });
    const a = new ResultLog();
    const b = new ResultLog();
    r.watch('orders', a.push);
    r.watch('users', b.push);
    clock.advance(0);
    await until(() => a.results.length === 1 && b.results.length === 1, 'both', [a, b]);
    expect(a.lastAddresses()?.[0]).toMatch(/:9000$/);
    expect(b.lastAddresses()?.[0]).toMatch(/:9100$/);
    expect(r.stats().map((s) => s.service).sort()).toEqual(['orders', 'users']);
  });

  it('close() stops everything and later watches get an error result', async () => {
    const { d, clock, r, until } = await setup();
    d.addInstance({ service: 'orders', port: 9000 });
    const a = new ResultLog();
    r.watch('orders', a.push);
    clock.runNext();
    await until(() => a.results.length === 1 && d.blockedCount() === 1, 'parked', [a]);
    r.close();
    await d.waitFor(() => d.activeCount() === 0, 'the read to be aborted');
    expect(clock.pending()).toBe(0);
    const late = new ResultLog();
    r.watch('orders', late.push);
    await until(() => late.results.length === 1, 'the error', [late]);
    expect(late.last?.ok).toBe(false);
  });
});
