// SPDX-License-Identifier: Apache-2.0
// `meshlet validate FILE...`: every issue of every file, compiler-style, and kind detection.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { detectKind, validateFiles as validateWith } from '../../../src/config/validate.js';
import { loadPolicy } from '../../../src/policy/load.js';

let dir: string;
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshlet-validate-'));
  await writeFile(file('good.yaml'), 'service: { name: a }\noutbound: {}\n');
  await writeFile(file('bad.yaml'), 'service:\n  name: a\ninbound:\n  app: nowhere\nlistn: 1\n');
  await writeFile(file('policy.yaml'), 'routes: []\n');
});

const validateFiles = (paths: readonly string[]) => validateWith(paths, loadPolicy);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('validateFiles', () => {
  it('prints "file: ok" for a valid file', async () => {
    expect(await validateFiles([file('good.yaml')])).toEqual({ ok: true, output: [`${file('good.yaml')}: ok`] });
  });

  it('prints every issue of every file and fails when any file is invalid', async () => {
    const result = await validateFiles([file('good.yaml'), file('bad.yaml'), file('missing.yaml')]);
    expect(result.ok).toBe(false);
    expect(result.output).toEqual([
      `${file('good.yaml')}: ok`,
      `${file('bad.yaml')}:4:8: inbound.app: expected host:port, e.g. 127.0.0.1:6140`,
      `${file('bad.yaml')}:5:1: listn: unknown key "listn"; allowed here: service, inbound, outbound, upstreams, consul, connection, admin, log, http2, shutdown, policy, metrics, tracing, health`,
      expect.stringContaining(`${file('missing.yaml')}: cannot read: ENOENT`),
    ]);
  });

  it('checks files on their own, without env overrides', async () => {
    vi.stubEnv('MESHLET_LOG_LEVEL', 'loud');
    try {
      expect(await validateFiles([file('good.yaml')])).toEqual({ ok: true, output: [`${file('good.yaml')}: ok`] });
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('validates policy files with the policy schema rather than as bad bootstraps (issue 4)', async () => {
    expect(await validateFiles([file('policy.yaml')])).toEqual({ ok: true, output: [`${file('policy.yaml')}: ok`] });
  });

  it('fails when given no files', async () => {
    expect((await validateFiles([])).ok).toBe(false);
  });
});

describe('detectKind', () => {
  it('is policy when the document has a top-level routes key, else bootstrap', () => {
    expect(detectKind('routes:\n  - match: {}\n')).toBe('policy');
    expect(detectKind('service: { name: a }\n')).toBe('bootstrap');
    expect(detectKind('service: { routes: [] }\n')).toBe('bootstrap');
    expect(detectKind('- routes\n')).toBe('bootstrap');
    expect(detectKind('service: "broken\n')).toBe('bootstrap');
  });
});
