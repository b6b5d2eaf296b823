// SPDX-License-Identifier: Apache-2.0
// Config sources: file, static and env-variable text.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envSource, fileSource, staticSource } from '../../../src/config/source.js';

describe('config sources', () => {
  it('staticSource yields its text under its name', async () => {
    const s = staticSource('inline', 'a: 1\n');
    expect(s.name).toBe('inline');
    expect(await s.read()).toBe('a: 1\n');
  });

  it('fileSource re-reads the file on every read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshlet-source-'));
    try {
      const path = join(dir, 'sidecar.yaml');
      await writeFile(path, 'first');
      const s = fileSource(path);
      expect(s.name).toBe(path);
      expect(await s.read()).toBe('first');
      await writeFile(path, 'second');
      expect(await s.read()).toBe('second');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fileSource rejects for a missing file', async () => {
    await expect(fileSource('/nonexistent/meshlet/sidecar.yaml').read()).rejects.toThrow(/ENOENT/);
  });

  it('envSource reads the variable from the given env and rejects when unset', async () => {
    expect(await envSource('MESHLET_CONFIG', { MESHLET_CONFIG: 'service: {}' }).read()).toBe('service: {}');
    await expect(envSource('MESHLET_CONFIG', {}).read()).rejects.toThrow('MESHLET_CONFIG is not set');
  });
});
