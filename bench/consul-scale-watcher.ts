// SPDX-License-Identifier: Apache-2.0
// Child process of bench/consul-scale.ts: one sidecar's discovery path for one backend (Consul client, resolver
// with the bootstrap defaults, Backends with a round-robin picker, logger at warn), and nothing else, so its RSS
// and CPU are the cost of watching that backend. IPC: reports {ready}, then {update: {at, index}} per picker
// update; answers {cmd:'stats'} with {rssBytes, cpuMicros} and {cmd:'heap'}, after a full GC, with {heapBytes,
// heapTotalBytes, externalBytes, gcRssBytes}.

import { Backends } from '../src/balance/backends.js';
import { getPolicy } from '../src/balance/policies.js';
import { setup as setupRoundRobin } from '../src/balance/round-robin.js';
import { consulSchema } from '../src/config/schema.js';
import { consulClientOptions, createConsulClient } from '../src/discovery/consul/client.js';
import { createConsulResolver } from '../src/discovery/consul/resolver.js';
import { createLogger } from '../src/telemetry/logger.js';

const [address, service] = process.argv.slice(2) as [string, string];
setupRoundRobin();
const config = consulSchema.parse({ address });
const client = createConsulClient(consulClientOptions(config));
const log = createLogger({ level: 'warn' });
const resolver = createConsulResolver({
  client,
  waitMs: config.waitMs,
  watcher: {
    log,
    minIntervalMs: config.watch.minIntervalMs,
    cpuShare: config.watch.cpuShare,
    maxCostWaitMs: config.watch.maxCostWaitMs,
    backoff: { baseMs: config.watch.backoffBaseMs, maxMs: config.watch.backoffMaxMs },
    logIntervalMs: config.watch.logIntervalMs,
  },
});
let ready = false;
const backends = new Backends({
  resolver,
  isKnown: () => true,
  balancingFor: () => ({ policy: getPolicy('round_robin'), options: {}, hashHeader: undefined }),
  env: { random: Math.random, now: () => performance.now() },
  log,
  onUpdate: (b) => {
    const index = resolver.stats()[0]?.lastIndex ?? 0;
    if (!ready && b.endpoints.length > 0) {
      ready = true;
      process.send?.({ ready: b.endpoints.length });
    } else if (ready) process.send?.({ update: { at: Date.now(), index } });
  },
});
backends.get(service);

process.on('message', (msg: { cmd: string }) => {
  if (msg.cmd === 'stats') {
    const cpu = process.cpuUsage();
    process.send?.({ rssBytes: process.memoryUsage().rss, cpuMicros: cpu.user + cpu.system });
  } else if (msg.cmd === 'heap') {
    // The live heap: what the watch retains, without the garbage of its last reads (run with --expose-gc).
    // A full GC resizes the young generation for the allocation rate of the last seconds; the pages it gives
    // back leave the RSS shortly after (V8 unmaps them on a background thread), hence the pause.
    (globalThis as { gc?: () => void }).gc?.();
    setTimeout(() => {
      const m = process.memoryUsage();
      process.send?.({ heapBytes: m.heapUsed, heapTotalBytes: m.heapTotal, externalBytes: m.external, gcRssBytes: m.rss });
    }, 1000);
  } else if (msg.cmd === 'stop') {
    backends.close();
    resolver.close();
    client.close();
    process.exit(0);
  }
});
