// SPDX-License-Identifier: Apache-2.0
// Every way meshlet is started passes the same node flags (src/node-flags.ts), and node applies them.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { meshletCommand } from '../../examples/demo/plan.js';
import { MESHLET_NODE_FLAGS } from '../../src/node-flags.js';

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));

describe('MESHLET_NODE_FLAGS', () => {
  it('are in the shebang of src/main.ts, so the `meshlet` bin starts with them', () => {
    const first = readFileSync(root('src/main.ts'), 'utf8').split('\n')[0];
    expect(first).toBe(`#!/usr/bin/env -S node ${MESHLET_NODE_FLAGS.join(' ')}`);
  });

  it("are in the Dockerfile's ENTRYPOINT, so the sidecar container and the injected init container start with them", () => {
    const line = readFileSync(root('Dockerfile'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('ENTRYPOINT '))
      .at(-1);
    expect(JSON.parse((line as string).slice('ENTRYPOINT '.length))).toEqual(['node', ...MESHLET_NODE_FLAGS, 'dist/src/main.js']);
  });

  it('are what the demo starts its sidecars with', () => {
    expect(meshletCommand({}, '/r', 'node').args).toEqual([...MESHLET_NODE_FLAGS, '/r/dist/src/main.js']);
  });

  it('cap the young generation in a node started with them (V8 takes them only at start)', () => {
    const flag = MESHLET_NODE_FLAGS.find((f) => f.startsWith('--max-semi-space-size='));
    expect(flag).toBeDefined();
    const capBytes = 2 * Number((flag as string).split('=')[1]) * 2 ** 20; // two semi-spaces
    const script =
      // Objects that survive a few scavenges (a ring of 200,000), so V8 grows the young generation as far as it may.
      "const ring = new Array(200000); for (let i = 0; i < 3e6; i++) ring[i % 200000] = { i, s: 'x' + i };" +
      "const s = require('v8').getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');" +
      'process.stdout.write(String(s.space_size));';
    const size = (flags: readonly string[]) => Number(spawnSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8' }).stdout);
    expect(size(MESHLET_NODE_FLAGS)).toBeLessThanOrEqual(capBytes);
    // The control: without them V8 grows it past that under the same allocation.
    expect(size([])).toBeGreaterThan(capBytes);
  });
});
