// SPDX-License-Identifier: Apache-2.0
// Validates the startup config in a worker thread, so the validator stays out of the sidecar's heap: zod, yaml and
// every schema are ~12 MiB of RSS once loaded and cannot be unloaded from a thread, while a worker's heap goes
// with the worker (measured: docs/performance.md "Idle memory"; docs/decisions.md §15). The result crosses as a
// structured clone (the config is plain data: test/unit/cli/off-thread.test.ts) and is frozen again here.

import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LoadResult } from '../config/load.js';
import type { LoadRequest } from './load-worker.js';
import type { StartupResult } from './startup.js';

/** Runs `request` in a fresh worker (./load-worker) and resolves with its frozen result; rejects if the worker fails. */
export function loadOffThread(request: Extract<LoadRequest, { kind: 'startup' }>): Promise<StartupResult>;
export function loadOffThread(request: Extract<LoadRequest, { kind: 'quick' }>): Promise<LoadResult>;
export function loadOffThread(request: LoadRequest): Promise<StartupResult | LoadResult> {
  // The worker's file has this file's extension: .js when built, .ts when run from source (tsx).
  const entry = new URL(`./load-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
  return new Promise((resolve, reject) => {
    // From source, node runs this thread under `--import tsx`, which Node 20 does not apply to workers: the
    // worker registers tsx itself before it imports its .ts entry. A build never takes this branch.
    const worker = entry.pathname.endsWith('.ts')
      ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`, { eval: true, workerData: request })
      : new Worker(entry, { workerData: request });
    let result: StartupResult | LoadResult | undefined;
    worker.once('message', (message: StartupResult | LoadResult) => (result = message));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (result !== undefined) resolve(deepFreeze(result));
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
