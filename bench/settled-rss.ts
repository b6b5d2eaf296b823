// SPDX-License-Identifier: Apache-2.0
// The resident memory this process keeps once V8 has given back what it holds only for speed: the young generation
// that loading modules grew, which a forced gc() leaves committed and only V8's memory reducer returns, seconds
// later (docs/performance.md "Idle RSS at start and once settled"). The inspector's HeapProfiler.collectGarbage,
// posted through an in-process session, runs that memory-reducing collection now, so a reading is the settled RSS
// without waiting for the reducer. Only for bench/module-rss.ts; the product never opens an inspector session.

import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { parseProcStatus } from './memory.js';

/** VmRSS of a process (this one by default) in KiB, from /proc/<pid>/status (bench/memory.ts parses it). */
export function rssKiB(pid: number | 'self' = 'self'): number {
  const file = `/proc/${pid}/status`;
  const memory = parseProcStatus(readFileSync(file, 'utf8'));
  if (memory === undefined) throw new Error(`settled-rss: ${file} has no VmRSS line (Linux only)`);
  return memory.rssKiB;
}

/** Runs V8's memory-reducing full collection and resolves with the RSS after it, in KiB, and the pause in ms. */
export function settledRss(): Promise<{ rssKiB: number; pauseMs: number }> {
  const session = new Session();
  session.connect();
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    session.post('HeapProfiler.collectGarbage', (err) => {
      const pauseMs = Number(process.hrtime.bigint() - started) / 1e6;
      // Not from inside this callback: on Node 20, disconnecting there leaves the main thread stuck (measured).
      setImmediate(() => session.disconnect());
      if (err) reject(new Error(`settled-rss: HeapProfiler.collectGarbage failed: ${err.message}`));
      else resolve({ rssKiB: rssKiB(), pauseMs });
    });
  });
}
