// SPDX-License-Identifier: Apache-2.0
// Child process of test/unit/h2/stream-map-gc.test.ts (run with --expose-gc --trace-gc-nvp): a long-lived table of
// "streams" with one insert and one delete per call, the pattern of a connection's stream table. argv[2] picks the
// table: `stream-map` (src/h2/stream-map.ts), `map` (a Map, the control that shows what the test detects) or `none`
// (no table: what the process promotes anyway, its module loading included).
// The parent sums the `promoted=` bytes V8 prints per scavenge.

import { StreamMap } from '../../src/h2/stream-map.js';

interface FakeStream {
  readonly id: number;
  readonly payload: Array<{ readonly i: number }>;
}

const kind = process.argv[2];
const calls = Number(process.argv[3] ?? 100_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

const streamMap = new StreamMap<FakeStream>();
const map = new Map<number, FakeStream>();
// Two full GCs move both tables to the old generation, as a connection's table is after a few seconds of life.
gc();
gc();
const open: FakeStream[] = [];
for (let n = 0, id = 1; n < calls; n++, id += 2) {
  // About 1 KB of young objects per call, reachable only from its stream.
  const stream: FakeStream = { id, payload: Array.from({ length: 32 }, (_, i) => ({ i })) };
  if (kind === 'map') map.set(id, stream);
  else if (kind === 'stream-map') streamMap.set(stream);
  open.push(stream);
  if (open.length > 4) {
    const done = open.shift() as FakeStream;
    if (kind === 'map') map.delete(done.id);
    else if (kind === 'stream-map') streamMap.delete(done.id);
  }
}
