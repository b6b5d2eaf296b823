// SPDX-License-Identifier: Apache-2.0
// The reason src/h2/stream-map.ts exists, pinned: with one insert and one delete per call on a long-lived table, a
// Map keeps dead calls alive through scavenges (V8 links each obsolete hash table to the next), so they are copied and
// promoted; the StreamMap lets them die young. Measured in a child process from V8's own per-scavenge figures.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CHILD = fileURLToPath(new URL('../../helpers/table-churn.ts', import.meta.url));
const CALLS = 100_000;

/** Bytes V8 promoted to the old generation in scavenges while the child churned `kind`. */
function promotedBytes(kind: 'stream-map' | 'map' | 'none'): { promoted: number; scavenges: number } {
  const r = spawnSync(process.execPath, ['--expose-gc', '--trace-gc-nvp', '--import', 'tsx', CHILD, kind, String(CALLS)], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`table-churn ${kind} failed (${r.status}): ${r.stderr}`);
  let promoted = 0;
  let scavenges = 0;
  for (const line of r.stdout.split('\n')) {
    if (!/\bgc=s\b/.test(line)) continue;
    scavenges++;
    const m = /\bpromoted=(\d+)/.exec(line);
    if (m !== null) promoted += Number(m[1]);
  }
  return { promoted, scavenges };
}

describe('StreamMap under per-call churn (V8 scavenges)', () => {
  it('lets finished streams die young, where a Map keeps them alive until a full GC', () => {
    const none = promotedBytes('none');
    const map = promotedBytes('map');
    const table = promotedBytes('stream-map');
    // Both did real scavenging work (about 100 MB allocated in each).
    expect(map.scavenges).toBeGreaterThan(3);
    expect(table.scavenges).toBeGreaterThan(3);
    // The control: the Map pattern promotes a large share of what the calls allocated (15 MB measured here), over
    // what the same process promotes with no table at all (module loading, about 2.5 MB).
    expect(map.promoted - none.promoted).toBeGreaterThan(5 * 1024 * 1024);
    // The StreamMap adds next to nothing: only what is live at a scavenge (a few open streams). The bound is 1 MiB,
    // not less: the same child with no table promotes 2.54-2.79 MB from run to run (module loading, scavenge
    // timing; six runs each way measured), so two runs differ by up to ~260 KB with no table involved at all, and
    // a 256 KiB bound failed in CI on that noise (266,984 bytes). The Map control stays 5× above it.
    expect(table.promoted - none.promoted).toBeLessThan(1024 * 1024);
  }, 120_000);
});
