// SPDX-License-Identifier: Apache-2.0
// config/off-thread.ts hands `run`'s and quick mode's loaded config from a worker thread to the sidecar's thread as a
// structured clone. These pin that the clone is the config: every result the loaders give (valid or not, with
// every section filled) survives structuredClone unchanged, so nothing (a class, a function, a getter) is lost
// on the way. The worker itself runs in test/architecture/lazy-modules.test.ts (the CLI in each mode).

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStartup } from '../../../src/cli/startup.js';
import { loadQuickMode } from '../../../src/config/quick-mode.js';
import { fileSource } from '../../../src/config/source.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshlet-off-thread-'));
  await writeFile(join(dir, 'policy.yaml'), await readFile('config/policy.yaml', 'utf8'));
  const sidecar = await readFile('config/sidecar.yaml', 'utf8');
  await writeFile(
    join(dir, 'sidecar.yaml'),
    `${sidecar}\npolicy: { file: ${JSON.stringify(join(dir, 'policy.yaml'))} }\nmetrics: { methodTypes: { "a.B/C": unary } }\ntracing: { mode: on }\nhealth: { upstreams: { enabled: true } }\n`,
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the loaded config crosses to the sidecar thread unchanged', () => {
  it("run's bootstrap and policy (the examples, with every optional section)", async () => {
    const loaded = await loadStartup(fileSource(join(dir, 'sidecar.yaml')), { MESHLET_LOG_LEVEL: 'debug' });
    expect(loaded.ok && loaded.policy !== undefined).toBe(true);
    expect(structuredClone(loaded)).toStrictEqual(loaded);
  });

  it("quick mode's flags, with gRPC-Web", async () => {
    const loaded = await loadQuickMode({ listen: '127.0.0.1:0', upstream: '127.0.0.1:1', admin: '127.0.0.1:0', grpcWebOrigins: ['*'] });
    expect(loaded.ok).toBe(true);
    expect(structuredClone(loaded)).toStrictEqual(loaded);
  });

  it('the issues of an invalid config', async () => {
    const loaded = await loadQuickMode({ listen: 'nowhere', upstream: '127.0.0.1:1', logLevel: 'loud' });
    expect(loaded.ok).toBe(false);
    expect(structuredClone(loaded)).toStrictEqual(loaded);
  });
});
