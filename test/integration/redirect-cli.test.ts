// SPDX-License-Identifier: Apache-2.0
// `meshlet iptables` as a command, where no root is needed: --dry-run output, usage errors (exit 2, one line naming
// the flag) and a missing iptables tool (exit 1, naming the command). The rules themselves against real iptables:
// redirect-iptables.test.ts.

import { describe, expect, it } from 'vitest';
import { runMeshlet } from '../helpers/cli.js';

describe('meshlet iptables (command line)', () => {
  it('--dry-run prints the iptables-restore input with the flags applied', async () => {
    const r = await runMeshlet(['iptables', '--dry-run', '--inbound-ports', '8080', '--exclude-outbound-cidrs', '10.96.0.0/12']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^# meshlet iptables: for iptables-restore --noflush/);
    expect(r.stdout).toContain('-A MESHLET_INBOUND -p tcp -m tcp --dport 8080 -j MESHLET_IN_REDIRECT\n');
    expect(r.stdout).toContain('-A MESHLET_OUTPUT -d 10.96.0.0/12 -j RETURN\n');
    expect(r.stdout.trimEnd().endsWith('COMMIT')).toBe(true);
  });

  it('--cleanup --dry-run prints the removal', async () => {
    const r = await runMeshlet(['iptables', '--cleanup', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('-D PREROUTING -p tcp -j MESHLET_INBOUND\n');
    expect(r.stdout).toContain('-X MESHLET_OUT_REDIRECT\n');
  });

  it.each([
    [['--inbound-port', 'http'], 'meshlet iptables: --inbound-port: "http" is not a TCP port (1-65535)'],
    [['--exclude-outbound-ports', '80,0'], 'meshlet iptables: --exclude-outbound-ports: "0" is not a TCP port (1-65535)'],
    [['--frobnicate'], "meshlet iptables: Unknown option '--frobnicate'"],
    [['extra'], 'meshlet iptables: Unexpected argument'],
  ])('rejects %j with exit 2 and one line', async (args, message) => {
    const r = await runMeshlet(['iptables', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
  });

  it('exits 1 naming the command when iptables cannot run', async () => {
    const r = await runMeshlet(['iptables'], { PATH: '/nonexistent' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^meshlet iptables: iptables -w 5 -t nat -S PREROUTING: spawn iptables ENOENT$/);
  });

  it('is listed by --help', async () => {
    const r = await runMeshlet(['--help']);
    expect(r.stdout).toContain('meshlet iptables [--proxy-uid UID]');
  });
});
