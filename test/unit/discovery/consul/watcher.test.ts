// SPDX-License-Identifier: Apache-2.0
// The blocking-query loop against the Consul double, its timers on a manual clock: changes within one blocking
// round, unchanged reads skipped, index reset and index >= 1, pacing under churn, backoff through an outage and
// recovery, unusable answers ignored (truncated, not JSON, missing fields), address/weight/meta mapping, and a
// close() that leaves nothing behind. Time-to-picker bounds are in freshness.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { createConsulClient, type ConsulClient } from '../../../../src/discovery/consul/client.js';
import {
  createConsulWatcher,
  createEndpointSet,
  createEntryDiff,
  diffEntries,
  type EndpointSet,
  entriesToEndpoints,
  type ConsulWatcher,
  type ConsulWatcherOptions,
} from '../../../../src/discovery/consul/watcher.js';
import { startConsulDouble, type ConsulDouble } from '../../../doubles/consul.js';
import { ManualClock, ResultLog, waitUntil } from './helpers.js';

const SVC = '/v1/health/service/orders';

let double: ConsulDouble | undefined;
let client: ConsulClient | undefined;
let watcher: ConsulWatcher | undefined;

afterEach(async () => {
  watcher?.close();
  watcher = undefined;
  client?.close();
  client = undefined;
  await double?.close();
  double = undefined;
});

async function setup(overrides: Partial<ConsulWatcherOptions> = {}) {
  const d = await startConsulDouble();
  double = d;
  const c = createConsulClient({ address: d.address });
  client = c;
  const clock = new ManualClock();
  const log = new ResultLog();
  const w = createConsulWatcher({
    client: c,
    service: 'orders',
    onResult: log.push,
    clock,
    random: () => 0.5,
    // Unpaced, for tests about something else (pacing has its own test).
    minIntervalMs: 0,
    cpuShare: 1,
    ...overrides,
  });
  watcher = w;
  const sources = [d, clock, log];
  const until = (pred: () => boolean, label: string) => waitUntil(pred, sources, label);
  const reads = () => d.requestsTo(SVC);
  /** The loop is idle: parked in a blocking read, or waiting on a timer. */
  const settled = (label: string) => until(() => d.blockedCount() === 1 || clock.pending() > 0, label);
  return { d, c, clock, log, w, until, reads, settled };
}

describe('createConsulWatcher', () => {
  it('starts asynchronously, emits the first set, then each change within the one blocking read in flight', async () => {
    const { d, clock, log, until, reads } = await setup();
    d.addInstance({ service: 'orders', port: 9000, nodeAddress: '10.0.0.1' });
    expect(reads()).toHaveLength(0); // nothing before the first timer tick
    clock.runNext();
    await until(() => log.results.length === 1 && d.blockedCount() === 1, 'first set and a parked read');
    expect(log.lastAddresses()).toEqual(['10.0.0.1:9000']);

    d.addInstance({ service: 'orders', port: 9001, nodeAddress: '10.0.0.2' });
    await until(() => log.results.length === 2, 'the change');
    expect(log.lastAddresses()).toEqual(['10.0.0.1:9000', '10.0.0.2:9001']);
    expect(reads()).toHaveLength(2 + 0); // the change came back on read #2, the one that was blocked
    await until(() => d.blockedCount() === 1, 'the next blocking read');
    expect(reads()[2]?.query.index).toBe(String(d.indexOf('orders')));
  });

  it('drops an instance whose checks stop passing and restores it when they pass again', async () => {
    const { d, clock, log, until } = await setup();
    const a = d.addInstance({ service: 'orders', port: 9000, nodeAddress: '10.0.0.1' });
    d.addInstance({ service: 'orders', port: 9000, nodeAddress: '10.0.0.2' });
    clock.runNext();
    await until(() => log.results.length === 1 && d.blockedCount() === 1, 'first set');
    d.setHealth(a, 'critical');
    await until(() => log.results.length === 2, 'the instance to go');
    expect(log.lastAddresses()).toEqual(['10.0.0.2:9000']);
    d.setHealth(a, 'warning');
    await until(() => d.blockedCount() === 1 && d.requestsTo(SVC).length === 4, 'a read that sees warning');
    expect(log.results).toHaveLength(2); // warning is not passing: still gone
    d.setHealth(a, 'passing');
    await until(() => log.results.length === 3, 'the instance to come back');
    expect(log.lastAddresses()).toEqual(['10.0.0.1:9000', '10.0.0.2:9000']);
  });

  it('emits nothing when a blocking read returns an unchanged set', async () => {
    const { d, clock, log, until, reads } = await setup();
    d.addInstance({ service: 'orders', port: 9000 });
    clock.runNext();
    await until(() => log.results.length === 1 && d.blockedCount() === 1, 'first set');
    d.touch('orders');
    await until(() => reads().length === 3 && d.blockedCount() === 1, 'the re-read to park');
    expect(log.results).toHaveLength(1);
    expect(watcher?.status().updates).toBe(1);
  });

  it('starts over from a non-blocking read when the index goes backwards, and still sees later changes', async () => {
    const { d, clock, log, until, reads } = await setup();
    d.addInstance({ service: 'orders', port: 9000, nodeAddress: '10.0.0.1' });
    clock.runNext();
    await until(() => log.results.length === 1 && d.blockedCount() === 1, 'first set');
    const before = d.indexOf('orders');
    expect(before).toBeGreaterThan(5);

    d.resetIndex(3); // snapshot restore: every blocked read returns with index 3
    await until(() => reads().length === 4 && d.blockedCount() === 1, 'reset, re-read, park');
    expect(reads().map((r) => r.query.index)).toEqual([undefined, String(before), undefined, '3']);
    expect(watcher?.status()).toMatchObject({ indexResets: 1, lastIndex: 3 });

    // With the old index (> 3) kept, this change would go unseen until the index caught up.
    d.addInstance({ service: 'orders', port: 9000, nodeAddress: '10.0.0.2' });
    await until(() => log.results.length === 2, 'the change after the reset');
    expect(log.lastAddresses()).toEqual(['10.0.0.1:9000', '10.0.0.2:9000']);
  });

  it('never blocks on index 0 after a response: an agent answering X-Consul-Index 0 gets index=1', async () => {
    const { d, clock, log, until, reads } = await setup();
    d.addInstance({ service: 'orders', port: 9000 });
    clock.runNext();
    await until(() => log.results.length === 1 && d.blockedCount() === 1, 'first set');
    d.resetIndex(0); // the Consul bug blocking.mdx warns about
    await until(() => reads().length === 4 && d.blockedCount() === 1, 'the loop to park again');
    const indexes = reads().map((r) => r.query.index);
    expect(indexes[3]).toBe('1');
    expect(indexes.slice(1).filter((i) => i !== undefined).every((i) => Number(i) >= 1)).toBe(true);
    expect(indexes).not.toContain('0');
    // It really blocks: no busy loop while nothing changes.
    expect(reads()).toHaveLength(4);
    expect(watcher?.status().lastIndex).toBe(1);
  });

  it('paces reads to one per minIntervalMs under constant churn, errors included, without losing a change', async () => {
    // cpuShare 1: the gap a read's own cost imposes stays far below 100 ms, so the sends are exact.
    const { d, clock, log, until, reads } = await setup({ minIntervalMs: 100, cpuShare: 1 });
    d.addInstance({ service: 'orders', port: 9000, nodeAddress: '10.0.0.1' });
    const start = clock.now();
    clock.runNext();
    const sentAt: number[] = [];
    let churn = 0;
    // Every time the loop parks, the service changes at once: a blocking loop without pacing would spin.
    while (clock.now() - start <= 500) {
      await until(() => d.blockedCount() === 1 || clock.pending() > 0, 'the loop to park or wait for its turn');
      while (sentAt.length < reads().length) sentAt.push(clock.now() - start);
      if (d.blockedCount() === 1) {
        churn += 1;
        d.addInstance({ service: 'orders', port: 9000 + churn, nodeAddress: '10.0.0.1' });
        await until(() => d.blockedCount() === 0 && (clock.pending() > 0 || reads().length > sentAt.length), 'the loop to react');
      } else {
        clock.runNext();
      }
    }
    expect(sentAt).toEqual([0, 100, 200, 300, 400, 500]);
    expect(log.results.length).toBe(churn + 1); // each change delivered (plus the first set), none lost
    expect(log.results.every((r) => r.ok)).toBe(true);
  });

  it('sends the first read after a quiet blocking read at once: pacing never delays a parked watch', async () => {
    const { d, clock, log, until, reads } = await setup({ minIntervalMs: 100, waitMs: 60_000, cpuShare: 1 });
    d.addInstance({ service: 'orders', port: 9000 });
    clock.runNext();
    await until(() => clock.pending() > 0 && log.results.length === 1, 'the first set, the blocking read paced');
    clock.runNext();
    await until(() => d.blockedCount() === 1, 'parked');
    clock.advance(5_000); // time passes while parked
    d.addInstance({ service: 'orders', port: 9001 });
    await until(() => log.results.length === 2 && (d.blockedCount() === 1 || clock.pending() > 0), 'the change');
    expect(clock.pending()).toBe(0); // the next blocking read went out without waiting for a token
    expect(reads()).toHaveLength(3);
  });

  it('spaces the reads of an expensive backend by cost / cpuShare, so churn costs a bounded share of a core', async () => {
    // Handling each answer "costs" 50 ms on the injected cost clock (the real read adds a little).
    let costNow = 0;
    const costClock = () => (costNow += 50);
    const { d, clock, log, until, reads } = await setup({ minIntervalMs: 100, cpuShare: 0.05, costClock });
    d.addInstance({ service: 'orders', port: 9000 });
    clock.runNext();
    await until(() => log.results.length === 1 && clock.pending() > 0, 'the first set, the next read held back');
    const gap = clock.nextDelay() as number;
    expect(gap).toBeGreaterThanOrEqual(50 * 19); // C × (1/0.05 − 1) with C ≥ 50 ms
    expect(gap).toBeLessThan(50 * 19 + 19 * 50); // the real part of C is small
    d.addInstance({ service: 'orders', port: 9001 }); // churn while held back: taken in by the next read
    clock.runNext();
    await until(() => log.results.length === 2, 'the change, one read later');
    expect(reads()).toHaveLength(2);
  });

  it('caps the wait an expensive read adds at maxCostWaitMs, so changes stay visible within seconds', async () => {
    // Each answer "costs" 10 s of CPU: cpuShare alone would wait 190 s before the next read.
    let costNow = 0;
    const costClock = () => (costNow += 10_000);
    const { d, clock, log, until } = await setup({ minIntervalMs: 100, cpuShare: 0.05, maxCostWaitMs: 2500, costClock });
    d.addInstance({ service: 'orders', port: 9000 });
    clock.runNext();
    await until(() => log.results.length === 1 && clock.pending() > 0, 'the first set, the next read held back');
    expect(clock.nextDelay()).toBe(2500);
    d.addInstance({ service: 'orders', port: 9001 });
    clock.runNext();
    await until(() => log.results.length === 2, 'the change, 2.5 s later');
  });

  it('backs off with full jitter during an outage and resumes with a fresh non-blocking read when back', async () => {
    const { d, clock, log, until, reads, w } = await setup({ backoff: { baseMs: 250, maxMs: 1000 } });
    d.addInstance({ service: 'orders', port: 9000, nodeAddress: '10.0.0.1' });
    clock.runNext();
    await until(() => log.results.length === 1 && d.blockedCount() === 1, 'first set');

    await d.outage(true, 'refuse');
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      await until(() => clock.pending() > 0, `error ${i + 1} to schedule a retry`);
      delays.push(clock.nextDelay() as number);
      clock.runNext();
    }
    await until(() => clock.pending() > 0, 'error 6');
    // random() = 0.5: half of min(1000, 250 * 2^n).
    expect(delays).toEqual([125, 250, 500, 500, 500]);
    // One error result for the whole outage: subscribers keep their set and are not told again on every retry.
    expect(log.results.map((r) => r.ok)).toEqual([true, false]);
    expect(log.results.filter((r) => r.ok)).toHaveLength(1);
    expect(w.status()).toMatchObject({ consecutiveErrors: 6, endpoints: 1 });
    expect(w.status().lastError).toMatch(/ECONNREFUSED|ECONNRESET|socket hang up/);

    await d.outage(false);
    const before = reads().length;
    clock.runNext();
    await until(() => log.last?.ok === true, 'recovery');
    expect(log.lastAddresses()).toEqual(['10.0.0.1:9000']); // same set, re-emitted because the last result was an error
    expect(reads()[before]?.query.index).toBeUndefined(); // the re-sync read does not block
    await until(() => d.blockedCount() === 1, 'blocking again');
    expect(w.status()).toMatchObject({ consecutiveErrors: 0, lastError: undefined });
    expect(w.status().lastSuccessAt).toBe(clock.now());
  });

  for (const [fault, reason] of [
    ['truncate', 'truncated'],
    ['not-json', 'not_json'],
    ['missing-fields', 'missing_fields'],
  ] as const) {
    it(`ignores a ${reason} answer: counted, logged once per interval, the last good set kept`, async () => {
      const warns: string[] = [];
      const logger = { debug: () => {}, info: () => {}, warn: (_: object, msg: string) => void warns.push(msg) };
      const { d, clock, log, until, w } = await setup({ log: logger, logIntervalMs: 10_000 });
      d.addInstance({ service: 'orders', port: 9000, nodeAddress: '10.0.0.1' });
      clock.runNext();
      await until(() => log.results.length === 1 && d.blockedCount() === 1, 'first set');

      d.faultHealth(fault);
      d.addInstance({ service: 'orders', port: 9001, nodeAddress: '10.0.0.2' });
      for (let i = 1; i <= 4; i++) {
        await until(() => w.status().badResponses[reason] === i && clock.pending() > 0, `bad answer ${i}`);
        if (i < 4) clock.runNext();
      }
      expect(log.results).toHaveLength(1); // nothing emitted: subscribers keep the last good set as it is
      expect(w.status()).toMatchObject({ endpoints: 1, errors: 0, consecutiveErrors: 4 });
      expect(w.status().lastError).toMatch(/unexpected response/);
      expect(warns).toEqual(['consul answer ignored; keeping the last endpoints']); // 4 answers, 1 line

      d.faultHealth(undefined);
      clock.runNext();
      await until(() => log.results.length === 2, 'the next good answer');
      expect(log.lastAddresses()).toEqual(['10.0.0.1:9000', '10.0.0.2:9001']);
      expect(w.status()).toMatchObject({ consecutiveErrors: 0, endpoints: 2 });
    });
  }

  it('reports 500s from the agent as error results with the agent text', async () => {
    const { d, clock, log, until } = await setup();
    d.addInstance({ service: 'orders', port: 9000 });
    clock.runNext();
    await until(() => log.results.length === 1 && d.blockedCount() === 1, 'first set');
    await d.outage(true, 'error');
    await until(() => log.results.length === 2, 'the error result');
    const last = log.last;
    expect(last?.ok).toBe(false);
    if (last?.ok === false) expect(last.error.message).toContain('HTTP 500: rpc error making call: No cluster leader');
  });

  it('close() aborts the parked read, clears its timers and delivers nothing more', async () => {
    const { d, clock, log, until, w } = await setup();
    d.addInstance({ service: 'orders', port: 9000 });
    clock.runNext();
    await until(() => log.results.length === 1 && d.blockedCount() === 1, 'first set');
    w.close();
    w.close(); // idempotent
    await d.waitFor(() => d.activeCount() === 0 && d.blockedCount() === 0, 'the read to be aborted');
    expect(clock.pending()).toBe(0);
    d.addInstance({ service: 'orders', port: 9001 });
    expect(log.results).toHaveLength(1);
    expect(w.status().running).toBe(false);
  });

  it('close() while waiting for a backoff timer cancels it', async () => {
    const { d, clock, until, w } = await setup();
    await d.outage(true, 'refuse');
    clock.runNext();
    await until(() => clock.pending() > 0, 'the retry timer');
    w.close();
    expect(clock.pending()).toBe(0);
  });

  it('close() before the first read sends nothing', async () => {
    const { d, clock, w } = await setup();
    w.close();
    expect(clock.pending()).toBe(0);
    expect(d.requests).toHaveLength(0);
  });

  it('uses Service.Address, falls back to Node.Address, and takes Weights.Passing and Service.Meta', async () => {
    const { d, clock, log, until } = await setup();
    d.addInstance({ service: 'orders', port: 9000, address: '192.168.1.7', nodeAddress: '10.0.0.1' });
    d.addInstance({ service: 'orders', port: 9001, address: '', nodeAddress: '10.0.0.2', weights: { Passing: 5, Warning: 1 }, meta: { zone: 'b' } });
    clock.runNext();
    await until(() => log.results.length === 1, 'first set');
    const r = log.last;
    expect(r?.ok).toBe(true);
    if (r?.ok) {
      expect(r.endpoints.map((e) => [e.address, e.weight, e.meta])).toEqual([
        ['10.0.0.2:9001', 5, { zone: 'b' }],
        ['192.168.1.7:9000', 1, {}],
      ]);
    }
  });
});

describe('entriesToEndpoints', () => {
  const entry = (address: string, nodeAddress: string, port: number, passing = 1) => ({
    Node: { Node: 'n', Address: nodeAddress },
    Service: { ID: `${address}:${port}`, Service: 'orders', Address: address, Port: port, Tags: [], Meta: {}, Weights: { Passing: passing, Warning: 1 } },
    Checks: [],
  });

  it('brackets IPv6 hosts, floors weights at 1, merges duplicates and sorts by address', () => {
    const eps = entriesToEndpoints([
      entry('::1', '10.0.0.1', 9000),
      entry('', '10.0.0.3', 9000, 0),
      entry('10.0.0.3', '10.0.0.9', 9000, 4),
    ]);
    expect(eps.map((e) => [e.address, e.weight])).toEqual([
      ['10.0.0.3:9000', 1],
      ['[::1]:9000', 1],
    ]);
  });

  it('skips and reports an instance that cannot be dialled (port 0)', () => {
    const bad: string[] = [];
    const eps = entriesToEndpoints([entry('10.0.0.1', 'n', 0), entry('10.0.0.2', 'n', 80)], (a) => bad.push(a));
    expect(eps.map((e) => e.address)).toEqual(['10.0.0.2:80']);
    expect(bad).toEqual(['10.0.0.1:0']);
  });
});

describe('diffEntries', () => {
  const entry = (address: string, port: number, passing = 1, meta: Record<string, string> = {}) => ({
    Node: { Node: 'n', Address: address },
    Service: { ID: `${address}:${port}`, Service: 'orders', Address: '', Port: port, Tags: [], Meta: meta, Weights: { Passing: passing, Warning: 1 } },
    Checks: [],
  });

  it('keeps the Endpoint objects of unchanged instances and reports no change for the same answer', () => {
    const first = diffEntries(new Map(), [entry('10.0.0.1', 80), entry('10.0.0.2', 80, 1, { zone: 'a' })]);
    expect(first.changed).toBe(true);
    const again = diffEntries(first.next, [entry('10.0.0.2', 80, 1, { zone: 'a' }), entry('10.0.0.1', 80)]);
    expect(again.changed).toBe(false);
    expect(again.next.get('10.0.0.1:80')).toBe(first.next.get('10.0.0.1:80'));
  });

  it('reports an added, a removed, a reweighted and a re-tagged instance as changes', () => {
    const base = diffEntries(new Map(), [entry('10.0.0.1', 80), entry('10.0.0.2', 80)]).next;
    expect(diffEntries(base, [entry('10.0.0.1', 80)]).changed).toBe(true);
    expect(diffEntries(base, [entry('10.0.0.1', 80), entry('10.0.0.2', 80), entry('10.0.0.3', 80)]).changed).toBe(true);
    const reweighted = diffEntries(base, [entry('10.0.0.1', 80), entry('10.0.0.2', 80, 5)]);
    expect(reweighted.changed).toBe(true);
    expect(reweighted.next.get('10.0.0.2:80')?.weight).toBe(5);
    expect(reweighted.next.get('10.0.0.1:80')).toBe(base.get('10.0.0.1:80'));
    expect(diffEntries(base, [entry('10.0.0.1', 80), entry('10.0.0.2', 80, 1, { v: '2' })]).changed).toBe(true);
  });
});

describe('createEntryDiff with fingerprints', () => {
  const entry = (address: string, port = 80) => ({
    Node: { Node: 'n', Address: address },
    Service: { ID: address, Service: 'orders', Address: '', Port: port, Tags: [], Meta: {}, Weights: { Passing: 1, Warning: 1 } },
  });
  /** One read: entries as [entry, fingerprint]; an entry is parsed (add) only when `known` does not claim it. */
  const read = (set: EndpointSet, answer: [ReturnType<typeof entry>, number][]) => {
    const diff = createEntryDiff(set);
    let parsed = 0;
    for (const [e, fp] of answer) {
      if (diff.known(fp)) continue;
      parsed += 1;
      diff.add(e, fp);
    }
    return { changed: diff.finish().changed, parsed };
  };

  it('takes known entries as unchanged without parsing them, and still sees removals and additions', () => {
    const set = createEndpointSet();
    expect(read(set, [[entry('10.0.0.1'), 1], [entry('10.0.0.2'), 2]])).toEqual({ changed: true, parsed: 2 });
    const kept = set.byAddress.get('10.0.0.1:80')?.endpoint;
    expect(read(set, [[entry('10.0.0.1'), 1], [entry('10.0.0.2'), 2]])).toEqual({ changed: false, parsed: 0 });
    expect(read(set, [[entry('10.0.0.1'), 1]])).toEqual({ changed: true, parsed: 0 });
    expect([...set.byAddress.keys()]).toEqual(['10.0.0.1:80']);
    expect(set.byFingerprint.has(2)).toBe(false);
    expect(read(set, [[entry('10.0.0.1'), 1], [entry('10.0.0.3'), 3]])).toEqual({ changed: true, parsed: 1 });
    expect(set.byAddress.get('10.0.0.1:80')?.endpoint).toBe(kept);
  });

  it('reports what a read changed (issue 13): new and replaced endpoints as upserted, gone addresses as removed', () => {
    const set = createEndpointSet();
    const weighted = (address: string, passing: number) => {
      const e = entry(address);
      return { ...e, Service: { ...e.Service, Weights: { Passing: passing, Warning: 1 } } };
    };
    const finish = (answer: ReturnType<typeof entry>[]) => {
      const diff = createEntryDiff(set);
      for (const e of answer) diff.add(e);
      const { changed, upserted, removed } = diff.finish();
      return { changed, upserted: upserted.map((e) => `${e.address}/${e.weight}`), removed };
    };
    expect(finish([entry('10.0.0.1'), entry('10.0.0.2')])).toEqual({ changed: true, upserted: ['10.0.0.1:80/1', '10.0.0.2:80/1'], removed: [] });
    expect(finish([entry('10.0.0.1'), entry('10.0.0.2')])).toEqual({ changed: false, upserted: [], removed: [] });
    expect(finish([weighted('10.0.0.1', 3), entry('10.0.0.3')])).toEqual({
      changed: true,
      upserted: ['10.0.0.1:80/3', '10.0.0.3:80/1'],
      removed: ['10.0.0.2:80'],
    });
    expect(finish([])).toEqual({ changed: true, upserted: [], removed: ['10.0.0.1:80', '10.0.0.3:80'] });
  });

  it('re-keys an instance whose entry changed outside what endpoints hold, without reporting a change', () => {
    const set = createEndpointSet();
    read(set, [[entry('10.0.0.1'), 1]]);
    expect(read(set, [[entry('10.0.0.1'), 9]])).toEqual({ changed: false, parsed: 1 });
    expect(set.byFingerprint.has(1)).toBe(false);
    expect(read(set, [[entry('10.0.0.1'), 9]])).toEqual({ changed: false, parsed: 0 });
  });

  it('needs all 53 bits of a fingerprint to match: entries whose low 30 bits collide are parsed, never mistaken', () => {
    const set = createEndpointSet();
    const low = 12345;
    const fp = (high: number) => high * 2 ** 30 + low; // same map key, different high bits
    const top = 2 ** 53 - 2 ** 30 + low; // the largest fingerprint with these low bits
    expect(read(set, [[entry('10.0.0.1'), fp(7)], [entry('10.0.0.2'), top]])).toEqual({ changed: true, parsed: 2 });
    // One of the two holds the shared key; the other is parsed on every read (still unchanged, still kept).
    expect(read(set, [[entry('10.0.0.1'), fp(7)], [entry('10.0.0.2'), top]])).toEqual({ changed: false, parsed: 1 });
    expect([...set.byAddress.keys()].sort()).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
    // A new entry whose fingerprint shares the low bits with a held one is not taken as that one.
    expect(read(set, [[entry('10.0.0.1'), fp(7)], [entry('10.0.0.2'), top], [entry('10.0.0.3'), fp(8)]])).toEqual({ changed: true, parsed: 2 });
    expect(set.byAddress.has('10.0.0.3:80')).toBe(true);
  });

  it('leaves the set as it was when a read is abandoned half way', () => {
    const set = createEndpointSet();
    read(set, [[entry('10.0.0.1'), 1], [entry('10.0.0.2'), 2]]);
    const abandoned = createEntryDiff(set);
    abandoned.known(1);
    abandoned.add(entry('10.0.0.4'), 4); // never finished
    expect(read(set, [[entry('10.0.0.2'), 2]])).toEqual({ changed: true, parsed: 0 });
    expect([...set.byAddress.keys()]).toEqual(['10.0.0.2:80']);
  });
});
