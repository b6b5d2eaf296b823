// SPDX-License-Identifier: Apache-2.0
// Child process of bench/consul-scale.ts: the Consul test double (test/doubles/consul.ts) holding a 1-instance and
// an N-instance service, churned on request, in its own process so its CPU and memory are not charged to the
// watchers being measured. Talks over IPC: {cmd:'churn', perSecond, seconds} → {changes: [{at, index}]}.

import { startConsulDouble } from '../test/doubles/consul.js';

const instances = Number(process.argv[2] ?? '10000');
const double = await startConsulDouble();
double.addInstance({ service: 'small', port: 9000, nodeAddress: '10.200.0.1' });
const ids: string[] = [];
for (let i = 0; i < instances; i++) {
  ids.push(double.addInstance({ service: 'big', port: 9000, nodeAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }));
}
const down = new Set<string>();

process.on('message', (msg: { cmd: string; perSecond?: number; seconds?: number }) => {
  if (msg.cmd === 'churn') {
    const perSecond = msg.perSecond ?? 100;
    const total = Math.round(perSecond * (msg.seconds ?? 10));
    const changes: { at: number; index: number }[] = [];
    const start = Date.now();
    let n = 0;
    // Changes paced on the wall clock: change k is due at start + k / perSecond.
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((Date.now() - start) * perSecond) / 1000) + 1);
      for (; n < due; n++) {
        // Instance k goes critical, and comes back 50 changes later: the set size stays about the same.
        const id = ids[(n * 7919) % ids.length] as string;
        if (down.has(id)) {
          down.delete(id);
          double.setHealth(id, 'passing');
        } else {
          down.add(id);
          double.setHealth(id, 'critical');
        }
        changes.push({ at: Date.now(), index: double.indexOf('big') });
      }
      if (n < total) setTimeout(tick, 5);
      else process.send?.({ changes });
    };
    tick();
  } else if (msg.cmd === 'stop') {
    void double.close().then(() => process.exit(0));
  }
});
process.send?.({ address: double.address });
