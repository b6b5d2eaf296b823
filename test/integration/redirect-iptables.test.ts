// SPDX-License-Identifier: Apache-2.0
// `meshlet iptables` against real iptables in a fresh network namespace (test/helpers/netns.ts): what it installs is
// what `iptables-save` shows, a second run changes nothing, --cleanup leaves no trace, --dry-run touches nothing,
// and a bad flag fails before any change. Runs the built CLI (npm run build) as the init container would.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetnsLab, netnsSkipReason, type NetnsLab, type Pod } from '../helpers/netns.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MESHLET = `${ROOT}dist/src/main.js`;
const skip = netnsSkipReason();

describe.skipIf(skip !== undefined)(`meshlet iptables in a network namespace${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: NetnsLab;
  let pod: Pod;

  beforeAll(() => {
    if (!existsSync(MESHLET)) throw new Error(`${MESHLET} is missing: run npm run build first`);
    lab = createNetnsLab();
    pod = lab.addPod('init');
  });
  afterAll(async () => {
    await lab?.close();
  });

  const meshlet = (...args: string[]) => lab.exec(pod, [process.execPath, MESHLET, 'iptables', ...args], { cwd: ROOT });
  /** The nat table's rules, without the comment and counter lines iptables-save varies by run. */
  const natRules = async () => {
    const r = await lab.exec(pod, ['iptables-save', '-t', 'nat']);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .join('\n');
  };
  const FLAGS = ['--exclude-inbound-ports', '9090', '--exclude-outbound-ports', '5432', '--exclude-outbound-cidrs', '10.96.0.0/12'];

  it('installs exactly the rules --dry-run prints, and a second run yields the same table', async () => {
    const before = await natRules();
    const dry = await meshlet('--dry-run', ...FLAGS);
    expect(dry.code, dry.stderr).toBe(0);
    expect(await natRules()).toBe(before); // --dry-run changed nothing

    const first = await meshlet(...FLAGS);
    expect(first.code, first.stderr).toBe(0);
    const installed = await natRules();
    const planned = dry.stdout.split('\n').filter((l) => l.startsWith('-A '));
    const actual = installed.split('\n').filter((l) => l.startsWith('-A '));
    expect(actual.sort()).toEqual([...planned].sort());
    for (const chain of ['MESHLET_INBOUND', 'MESHLET_IN_REDIRECT', 'MESHLET_OUTPUT', 'MESHLET_OUT_REDIRECT']) {
      expect(installed).toContain(`:${chain} - [0:0]`);
    }
    expect(installed).toContain('-A MESHLET_OUTPUT -m owner --uid-owner 4242 -j RETURN');
    expect(installed).toContain('-A MESHLET_IN_REDIRECT -p tcp -j REDIRECT --to-ports 6143');

    const second = await meshlet(...FLAGS);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).not.toMatch(/^-A (PREROUTING|OUTPUT) /m); // the jumps were there already
    expect(await natRules()).toBe(installed);
  });

  it('a run with other flags replaces the chains and keeps one jump each', async () => {
    const r = await meshlet('--inbound-ports', '8080', '--proxy-uid', '1337');
    expect(r.code, r.stderr).toBe(0);
    const rules = await natRules();
    expect(rules).toContain('-A MESHLET_INBOUND -p tcp -m tcp --dport 8080 -j MESHLET_IN_REDIRECT');
    expect(rules).toContain('-A MESHLET_OUTPUT -m owner --uid-owner 1337 -j RETURN');
    expect(rules).not.toContain('4242');
    expect(rules).not.toContain('10.96.0.0/12');
    expect(rules.match(/-j MESHLET_INBOUND$/gm)).toHaveLength(1);
    expect(rules.match(/-j MESHLET_OUTPUT$/gm)).toHaveLength(1);
  });

  it('rejects a bad flag with exit 2 and one line naming it, changing nothing', async () => {
    const before = await natRules();
    const r = await meshlet('--exclude-outbound-cidrs', '10.0.0.0/40');
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('meshlet iptables: --exclude-outbound-cidrs: "10.0.0.0/40" is not an IPv4 CIDR like 10.0.0.0/8');
    expect(await natRules()).toBe(before);
  });

  it('--cleanup removes every chain and jump, and runs again on a clean table', async () => {
    const dry = await meshlet('--cleanup', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(await natRules()).toContain('MESHLET_');
    for (let i = 0; i < 2; i++) {
      const r = await meshlet('--cleanup');
      expect(r.code, r.stderr).toBe(0);
      expect(await natRules()).not.toContain('MESHLET');
    }
  });
});
