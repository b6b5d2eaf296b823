// SPDX-License-Identifier: Apache-2.0
// `npm run bench:consul`: the cost of watching a large Consul backend, against a 1-instance one in the same run.
// Three processes: the Consul test double (bench/consul-scale-agent.ts) and two watchers (bench/
// consul-scale-watcher.ts), one per backend, each running only the discovery path. Reports each watcher's RSS
// after settling and after churn, its CPU while idle and while the large backend changes `--rate` times a second,
// and the time from each change to the picker. Goals (issue 13): ≤ +10 MiB RSS, ≤ 5 % of a core, ≤ 5 s.
// Options: --instances N (10000), --rate R changes/s (100), --seconds S of churn (20), --node-flags "F" (watchers,
// after the shipped MESHLET_NODE_FLAGS).

import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { MESHLET_NODE_FLAGS } from '../src/node-flags.js';

const AGENT = fileURLToPath(new URL('./consul-scale-agent.js', import.meta.url));
const WATCHER = fileURLToPath(new URL('./consul-scale-watcher.js', import.meta.url));

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}
/**
 * The watchers' node flags: the ones a sidecar ships with (src/node-flags.ts), then `--node-flags "..."`, which
 * come after them and so win, e.g. `--node-flags "--max-semi-space-size=16"` for V8's default young generation.
 */
const nodeFlagsAt = process.argv.indexOf('--node-flags');
const nodeFlags = [
  ...MESHLET_NODE_FLAGS,
  ...(nodeFlagsAt >= 0 ? (process.argv[nodeFlagsAt + 1] ?? '').split(' ').filter((f) => f !== '') : []),
];
const instances = arg('instances', 10_000);
const rate = arg('rate', 100);
const seconds = arg('seconds', 20);

type Message = Record<string, unknown>;

/** The next IPC message of `child` that has `key`, or a rejection after `timeoutMs`. */
function next<T>(child: ChildProcess, key: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', on);
      reject(new Error(`no "${key}" from child within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (m: Message): void => {
      if (!(key in m)) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m[key] as T);
    };
    child.on('message', on);
  });
}

interface Stats {
  rssBytes: number;
  cpuMicros: number;
}
async function stats(child: ChildProcess): Promise<Stats> {
  const reply = next<number>(child, 'rssBytes', 10_000);
  const cpu = new Promise<number>((resolve) => {
    const on = (m: Message): void => {
      if ('cpuMicros' in m) {
        child.off('message', on);
        resolve(m.cpuMicros as number);
      }
    };
    child.on('message', on);
  });
  child.send({ cmd: 'stats' });
  return { rssBytes: await reply, cpuMicros: await cpu };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (b: number) => (b / 1024 / 1024).toFixed(1);
const pct = (micros: number, ms: number) => ((micros / 1000 / ms) * 100).toFixed(2);

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill();
});

const agent = fork(AGENT, [String(instances)], { stdio: 'inherit' });
children.push(agent);
const address = await next<string>(agent, 'address', 120_000);
const updates: { at: number; index: number }[] = [];
const watch = async (service: string): Promise<ChildProcess> => {
  const child = fork(WATCHER, [address, service], { stdio: 'inherit', execArgv: ['--expose-gc', ...nodeFlags] });
  children.push(child);
  child.on('message', (m: Message) => {
    if (service === 'big' && 'update' in m) updates.push(m.update as { at: number; index: number });
  });
  await next<number>(child, 'ready', 120_000);
  return child;
};
const small = await watch('small');
const big = await watch('big');

console.log(`consul-scale: ${instances} instances vs 1; ${rate} changes/s for ${seconds} s; Node ${process.version} ${nodeFlags.join(' ')}; ` +
  `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}); load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

await wait(5000); // settle: first reads done, the large answer's garbage collectable
const settled = { small: await stats(small), big: await stats(big) };
const idleMs = 10_000;
await wait(idleMs);
const idleEnd = { small: await stats(small), big: await stats(big) };

const churnStart = { small: await stats(small), big: await stats(big), at: performance.now() };
agent.send({ cmd: 'churn', perSecond: rate, seconds });
const changes = await next<{ at: number; index: number }[]>(agent, 'changes', (seconds + 60) * 1000);
const churnEnd = { small: await stats(small), big: await stats(big), at: performance.now() };
await wait(6000); // let the last changes arrive
const after = { small: await stats(small), big: await stats(big) };
// Steady state: quiet for a while (V8 sizes the young generation by the allocation rate of the last ~5 s), then
// a full GC, so what is left is what the watch keeps, not the garbage and buffers of the churn.
await wait(10_000);
interface Heap {
  heapBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  gcRssBytes: number;
}
const heap = async (child: ChildProcess): Promise<Heap> => {
  const reply = new Promise<Heap>((resolve) => {
    const on = (m: Message): void => {
      if ('heapBytes' in m) {
        child.off('message', on);
        resolve(m as unknown as Heap);
      }
    };
    child.on('message', on);
  });
  child.send({ cmd: 'heap' });
  return reply;
};
const live = { small: await heap(small), big: await heap(big) };

const lags: number[] = [];
let missed = 0;
for (const c of changes) {
  const seen = updates.find((u) => u.index >= c.index && u.at >= c.at);
  if (seen === undefined) missed += 1;
  else lags.push(seen.at - c.at);
}
lags.sort((a, b) => a - b);
const q = (p: number) => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] ?? NaN;
const churnMs = churnEnd.at - churnStart.at;

const rows = [
  ['RSS after settling (MiB)', mib(settled.small.rssBytes), mib(settled.big.rssBytes), `+${mib(settled.big.rssBytes - settled.small.rssBytes)}`, '≤ +10'],
  ['RSS 6 s after churn (MiB)', mib(after.small.rssBytes), mib(after.big.rssBytes), `+${mib(after.big.rssBytes - after.small.rssBytes)}`, '≤ +10'],
  ['RSS in steady state: 16 s after churn, after a full GC (MiB)', mib(live.small.gcRssBytes), mib(live.big.gcRssBytes), `+${mib(live.big.gcRssBytes - live.small.gcRssBytes)}`, '≤ +10'],
  ['  of which V8 heap, committed (MiB)', mib(live.small.heapTotalBytes), mib(live.big.heapTotalBytes), `+${mib(live.big.heapTotalBytes - live.small.heapTotalBytes)}`, ''],
  ['  live heap (MiB)', mib(live.small.heapBytes), mib(live.big.heapBytes), `+${mib(live.big.heapBytes - live.small.heapBytes)}`, ''],
  ['  external memory (MiB)', mib(live.small.externalBytes), mib(live.big.externalBytes), `+${mib(live.big.externalBytes - live.small.externalBytes)}`, ''],
  ['CPU idle (% of a core)', pct(idleEnd.small.cpuMicros - settled.small.cpuMicros, idleMs), pct(idleEnd.big.cpuMicros - settled.big.cpuMicros, idleMs), '', ''],
  [
    `CPU at ${rate} changes/s (% of a core)`,
    pct(churnEnd.small.cpuMicros - churnStart.small.cpuMicros, churnMs),
    pct(churnEnd.big.cpuMicros - churnStart.big.cpuMicros, churnMs),
    `+${pct(churnEnd.big.cpuMicros - churnStart.big.cpuMicros - (churnEnd.small.cpuMicros - churnStart.small.cpuMicros), churnMs)}`,
    '≤ +5',
  ],
];
console.log(['figure', '1 instance', `${instances} instances`, 'difference', 'goal'].join(' | '));
for (const r of rows) console.log(r.join(' | '));
console.log(
  `change → picker (${changes.length} changes, ${updates.length} picker updates): p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, ` +
    `max ${lags[lags.length - 1] ?? NaN} ms, never seen ${missed} (goal: every change within 5000 ms)`,
);
for (const c of [small, big, agent]) c.send({ cmd: 'stop' });
