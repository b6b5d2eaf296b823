// SPDX-License-Identifier: Apache-2.0
// `meshlet ca init` and `meshlet ca issue` through the real entry point (src/main.ts dispatch), checked by openssl.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runMeshlet } from '../helpers/cli.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshlet-ca-cli-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('meshlet ca', () => {
  it('init --intermediate then issue: openssl verifies the leaf and sees its SPIFFE ID; keys are 0600', async () => {
    const init = await runMeshlet(['ca', 'init', '--dir', join(dir, 'ca'), '--trust-domain', 'mesh.local', '--intermediate']);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    const issue = await runMeshlet([
      'ca', 'issue', '--dir', join(dir, 'ca'), '--spiffe-id', 'spiffe://mesh.local/ns/shop/sa/web', '--out', join(dir, 'web'), '--dns', 'web.shop',
    ]);
    expect(issue.stderr).toBe('');
    expect(issue.code).toBe(0);
    expect(issue.stdout).toContain('issued spiffe://mesh.local/ns/shop/sa/web');
    const verify = execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca/root.crt'), '-untrusted', join(dir, 'ca/intermediate.crt'), join(dir, 'web.crt')], { encoding: 'utf8' });
    expect(verify.trim()).toBe(`${join(dir, 'web.crt')}: OK`);
    const text = execFileSync('openssl', ['x509', '-in', join(dir, 'web.crt'), '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toContain('URI:spiffe://mesh.local/ns/shop/sa/web, DNS:web.shop');
    expect(statSync(join(dir, 'web.key')).mode & 0o777).toBe(0o600);
  });

  it('issue with the wrong trust domain exits 1 naming the CA file and both domains', async () => {
    expect((await runMeshlet(['ca', 'init', '--dir', dir, '--trust-domain', 'mesh.local'])).code).toBe(0);
    const res = await runMeshlet(['ca', 'issue', '--dir', dir, '--spiffe-id', 'spiffe://other/svc/a', '--out', join(dir, 'a')]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(`meshlet ca issue: ${join(dir, 'root.crt')}: SPIFFE ID spiffe://other/svc/a is in trust domain "other", but this CA is for "mesh.local"\n`);
  });

  it('--help lists the ca commands', async () => {
    const res = await runMeshlet(['--help']);
    expect(res.stdout).toContain('meshlet ca init --dir DIR --trust-domain TD');
    expect(res.stdout).toContain('meshlet ca issue --dir DIR --spiffe-id ID --out PREFIX');
  });
});
