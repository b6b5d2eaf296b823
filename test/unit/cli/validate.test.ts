// SPDX-License-Identifier: Apache-2.0
// `meshlet validate FILE...`: every issue of every file, compiler-style, under the env `run` would see, and kind
// detection.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { detectKind, validateFiles } from '../../../src/cli/validate.js';

let dir: string;
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshlet-validate-'));
  await writeFile(file('good.yaml'), 'service: { name: a }\noutbound: {}\n');
  await writeFile(file('bad.yaml'), 'service:\n  name: a\ninbound:\n  app: nowhere\nlistn: 1\n');
  await writeFile(file('policy.yaml'), 'routes: []\n');
  await writeFile(file('bad-policy.yaml'), 'routes: 3\n');
  await writeFile(file('with-policy.yaml'), `service: { name: a }\noutbound: {}\npolicy: { file: ${JSON.stringify(file('bad-policy.yaml'))} }\n`);
  await writeFile(file('with-missing-policy.yaml'), `service: { name: a }\noutbound: {}\npolicy: { file: ${JSON.stringify(file('nope.yaml'))} }\n`);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('validateFiles', () => {
  it('prints "file: ok" for a valid file', async () => {
    expect(await validateFiles([file('good.yaml')], {})).toEqual({ ok: true, output: [`${file('good.yaml')}: ok`] });
  });

  it('prints every issue of every file and fails when any file is invalid', async () => {
    const result = await validateFiles([file('good.yaml'), file('bad.yaml'), file('missing.yaml')], {});
    expect(result.ok).toBe(false);
    expect(result.output).toEqual([
      `${file('good.yaml')}: ok`,
      `${file('bad.yaml')}:4:8: inbound.app: expected host:port, e.g. 127.0.0.1:6140`,
      `${file('bad.yaml')}:5:1: listn: unknown key "listn"; allowed here: service, inbound, outbound, upstreams, consul, connection, admin, log, http2, shutdown, policy, metrics, tracing, health, mtls, redis`,
      expect.stringContaining(`${file('missing.yaml')}: cannot read: ENOENT`),
    ]);
  });

  it('applies env overrides as run does, and names the variable in the error (issue 11)', async () => {
    expect(await validateFiles([file('good.yaml')], { MESHLET_ADMIN_LISTEN: 'bogus', MESHLET_LOG_LEVEL: 'loud' })).toEqual({
      ok: false,
      output: [
        'MESHLET_ADMIN_LISTEN: admin.listen: expected host:port, e.g. 127.0.0.1:6140',
        'MESHLET_LOG_LEVEL: log.level: expected one of "trace"|"debug"|"info"|"warn"|"error"|"fatal"|"silent"',
      ],
    });
    expect(await validateFiles([file('good.yaml')], { MESHLET_ADMIN_LISTEN: '127.0.0.1:0' })).toEqual({
      ok: true,
      output: [`${file('good.yaml')}: ok`],
    });
  });

  it('reads the process environment by default', async () => {
    vi.stubEnv('MESHLET_ADMIN_LISTEN', 'bogus');
    try {
      const result = await validateFiles([file('good.yaml')]);
      expect(result.ok).toBe(false);
      expect(result.output).toEqual([expect.stringMatching(/^MESHLET_ADMIN_LISTEN: admin\.listen: /)]);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('reports an env variable that has no section to apply to', async () => {
    const result = await validateFiles([file('good.yaml')], { MESHLET_INBOUND_LISTEN: '0.0.0.0:6143' });
    expect(result).toEqual({
      ok: false,
      output: ['MESHLET_INBOUND_LISTEN: inbound.listen: set, but the config has no "inbound" section to apply it to'],
    });
  });

  it("checks the policy file a bootstrap names, as run does, and prints each issue once", async () => {
    const result = await validateFiles([file('with-policy.yaml'), file('bad-policy.yaml')], {});
    expect(result).toEqual({
      ok: false,
      output: [`${file('bad-policy.yaml')}:1:9: routes: expected array, received number`],
    });
    const missing = await validateFiles([file('with-missing-policy.yaml')], {});
    expect(missing.ok).toBe(false);
    expect(missing.output).toEqual([expect.stringContaining(`${file('nope.yaml')}: cannot read: ENOENT`)]);
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
