// SPDX-License-Identifier: Apache-2.0
// Runs a config load in a worker thread, so the validator stays out of the sidecar's heap: zod, yaml and every
// schema are ~12 MiB of RSS once loaded and cannot be unloaded from a thread, while a worker's heap goes with the
// worker (docs/performance.md "Idle memory"; docs/decisions.md §15). Used for `run`'s and quick mode's startup
// config (cli/load-worker.ts). The result crosses as a structured clone (a loaded config is plain data:
// test/unit/config/off-thread.test.ts) and is frozen again here.

import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** The module `relative` (no extension) next to `from`, with `from`'s extension: .js when built, .ts from source. */
export function workerEntry(from: string, relative: string): URL {
  return new URL(`${relative}${extname(fileURLToPath(from))}`, from);
}

/**
 * Runs the worker module `entry` with `data` as its workerData; resolves with the first message it posts, deep
 * frozen, once it has exited. Rejects when the worker throws or exits without a message.
 */
export function loadOffThread<T>(entry: URL, data: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    // From source, node runs this thread under `--import tsx`, which Node 20 does not apply to workers: the
    // worker registers tsx itself before it imports its .ts entry. A build never takes this branch.
    const worker = entry.pathname.endsWith('.ts')
      ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`, { eval: true, workerData: data })
      : new Worker(entry, { workerData: data });
    let result: { value: T } | undefined;
    worker.once('message', (value: T) => (result = { value }));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (result !== undefined) resolve(deepFreeze(result.value));
      else reject(new Error(`the config loader's worker exited (code ${code}) without a result`));
    });
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
