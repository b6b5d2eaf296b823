// SPDX-License-Identifier: Apache-2.0
// The config file watcher's reload decisions (driven through check(), so no file-event timing is involved):
// valid changes applied once, invalid ones rejected and reported, unchanged text ignored, the last good kept.
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { watchConfigFile, type ConfigWatcher } from '../../../src/config/watch.js';
import { parsePolicy } from '../../../src/policy/load.js';
import type { Policy } from '../../../src/policy/schema.js';
import type { ReloadResult } from '../../../src/config/watch.js';
import { createLogger } from '../../../src/telemetry/logger.js';

let dir: string;
let file: string;
let watcher: ConfigWatcher | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshlet-watch-'));
  file = join(dir, 'policy.yaml');
  await writeFile(file, 'routes: []\n');
});
afterEach(async () => {
  watcher?.close();
  await rm(dir, { recursive: true, force: true });
});

function start() {
  const applied: Policy[] = [];
  const results: ReloadResult[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim() !== '') logs.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  watcher = watchConfigFile<Policy>({
    path: file,
    load: async (source) => parsePolicy(source.name, await source.read()),
    apply: (p) => applied.push(p),
    log: createLogger({ level: 'info', destination, sync: true }),
    onReload: (r) => results.push(r),
    initialText: 'routes: []\n',
    pollIntervalMs: 0,
    debounceMs: 10_000, // file events never trigger a check during the test: check() drives it
  });
  return { w: watcher, applied, results, logs };
}

describe('watchConfigFile', () => {
  it('applies a valid change once; the same text again is unchanged', async () => {
    const { w, applied, results } = start();
    expect(await w.check()).toBe('unchanged');
    await writeFile(file, 'defaults: { timeoutMs: 5 }\n');
    expect(await w.check()).toBe('applied');
    expect(await w.check()).toBe('unchanged');
    expect(applied).toEqual([{ defaults: { timeoutMs: 5 } }]);
    expect(results).toEqual(['applied']);
  });

  it('rejects an invalid change with every issue as file:line:column in the log, and applies nothing', async () => {
    const { w, applied, results, logs } = start();
    await writeFile(file, 'defaults:\n  timeoutMs: -1\n  retri: {}\n');
    expect(await w.check()).toBe('rejected');
    expect(applied).toEqual([]);
    expect(results).toEqual(['rejected']);
    expect(logs.at(-1)).toMatchObject({
      level: 'warn',
      issues: [`${file}:2:14: defaults.timeoutMs: expected number to be >=0`, `${file}:3:3: defaults.retri: unknown key "retri" (did you mean "retry"?)`],
    });
    // The same bad text is not reported again on every event; a fix is applied.
    expect(await w.check()).toBe('unchanged');
    await writeFile(file, 'routes: []\n');
    expect(await w.check()).toBe('unchanged'); // back to the text in force
    await writeFile(file, 'defaults: { timeoutMs: 1 }\n');
    expect(await w.check()).toBe('applied');
  });

  it('keeps the last good config when the file disappears, and reports it once', async () => {
    const { w, results } = start();
    await unlink(file);
    expect(await w.check()).toBe('rejected');
    expect(await w.check()).toBe('unchanged');
    expect(results).toEqual(['rejected']);
  });

  it('never runs two checks at once: a check requested during one runs after it', async () => {
    const { w, applied } = start();
    await writeFile(file, 'defaults: { timeoutMs: 1 }\n');
    const first = w.check();
    const second = w.check();
    expect(await first).toBe('applied');
    expect(await second).toBe('applied'); // the same run's result
    expect(applied).toHaveLength(1);
  });
});
