// SPDX-License-Identifier: Apache-2.0
// The injector and the traffic redirect agree: every `meshlet-init` container the golden patches add runs the real
// `meshlet iptables` command line (here with --dry-run, which needs no root) and gets the rules its annotations ask
// for. A renamed or misspelt flag on either side fails here, not in a user's pod.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMeshlet } from '../helpers/cli.js';

interface Container {
  readonly name: string;
  readonly args?: readonly string[];
}
interface Operation {
  readonly op: string;
  readonly path: string;
  readonly value?: unknown;
}

const GOLDEN = join(import.meta.dirname, 'golden');

/** The init containers named meshlet-init in a golden patch (added as a list or one by one). */
function initContainers(name: string): Container[] {
  const { patch } = JSON.parse(readFileSync(join(GOLDEN, name), 'utf8')) as { patch: Operation[] | null };
  const out: Container[] = [];
  for (const op of patch ?? []) {
    if (op.op !== 'add' || !op.path.startsWith('/spec/initContainers')) continue;
    const values = Array.isArray(op.value) ? (op.value as Container[]) : [op.value as Container];
    out.push(...values.filter((c) => c.name === 'meshlet-init'));
  }
  return out;
}

const cases = readdirSync(GOLDEN)
  .filter((f) => f.endsWith('.json'))
  .flatMap((f) => initContainers(f).map((c) => [f, c] as const));

describe('injected meshlet-init containers run the real meshlet iptables', () => {
  it('finds the init container in the golden patches that inject', () => {
    expect(cases.length).toBeGreaterThanOrEqual(3);
  });

  it.each(cases)('%s: its args are accepted and install the redirect', async (_file, container) => {
    const args = container.args ?? [];
    expect(args[0]).toBe('iptables');
    const r = await runMeshlet([...args, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('-A MESHLET_OUT_REDIRECT -p tcp -j REDIRECT --to-ports 6140');
    const inbound = args[args.indexOf('--inbound-ports') + 1];
    if (args.includes('--inbound-ports') && inbound !== '*' && inbound !== '') {
      for (const port of (inbound as string).split(',')) expect(r.stdout).toContain(`--dport ${port} -j MESHLET_IN_REDIRECT`);
    }
    const cidrs = args.includes('--exclude-outbound-cidrs') ? (args[args.indexOf('--exclude-outbound-cidrs') + 1] as string).split(',') : [];
    for (const cidr of cidrs) expect(r.stdout).toContain(`-A MESHLET_OUTPUT -d ${cidr} -j RETURN`);
  });
});
