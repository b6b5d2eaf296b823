// SPDX-License-Identifier: Apache-2.0
// The local demo end to end, as `npm start` runs it: the built demo starts two services behind two real meshlet
// processes, makes three rounds of calls through both sidecars, and stops everything cleanly. Needs the build
// output (npm test builds before running vitest); uses the demo's fixed ports (examples/demo/ports.ts).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEMO = `${ROOT}dist/examples/demo/main.js`;

describe('npm start demo', () => {
  it('runs three rounds of calls through both sidecars and exits 0', async () => {
    expect(existsSync(DEMO), 'build output missing: run `npm run build` (npm test does)').toBe(true);
    const child = spawn(process.execPath, [DEMO, '--calls', '3'], { cwd: ROOT, env: { ...process.env, CONSUL_HTTP_ADDR: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, out).toBe(0);
    expect(out).toMatch(/GetOrder|ListOrders/);
  }, 90_000);
});
