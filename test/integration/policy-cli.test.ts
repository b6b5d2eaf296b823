// SPDX-License-Identifier: Apache-2.0
// The policy side of the CLI (issue 4): `meshlet validate` on policy files, `meshlet explain`, and `meshlet run`
// refusing to start with an invalid policy file.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMeshlet } from '../helpers/cli.js';

const EXAMPLE_POLICY = fileURLToPath(new URL('../../config/policy.yaml', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshlet-policy-cli-'));
  await writeFile(join(dir, 'bad-policy.yaml'), 'defaults:\n  retry:\n    retryOn: [sometimes]\n  limits: { maxConcurrentRequests: 0 }\n');
  await writeFile(
    join(dir, 'sidecar.yaml'),
    [
      'service: { name: caller }',
      'outbound: { listen: 127.0.0.1:0 }',
      'admin: { listen: 127.0.0.1:0 }',
      'upstreams:',
      '  billing: { endpoints: [10.0.0.1:6143, 10.0.0.2:6143], balancing: { policy: round_robin } }',
      `policy: { file: ${EXAMPLE_POLICY} }`,
      '',
    ].join('\n'),
  );
  await writeFile(join(dir, 'sidecar-bad-policy.yaml'), `service: { name: caller }\noutbound: {}\npolicy: { file: ${join(dir, 'bad-policy.yaml')} }\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('meshlet validate with policy files', () => {
  it('accepts the example policy and reports every issue of a bad one as file:line:column: path: message', async () => {
    const good = await runMeshlet(['validate', EXAMPLE_POLICY]);
    expect(good.code).toBe(0);
    expect(good.stdout).toBe(`${EXAMPLE_POLICY}: ok\n`);
    const bad = await runMeshlet(['validate', join(dir, 'bad-policy.yaml')]);
    expect(bad.code).toBe(1);
    const lines = bad.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${join(dir, 'bad-policy.yaml')}:3:15: defaults\\.retry\\.retryOn\\[0\\]: expected one of `));
    expect(lines[1]).toBe(`${join(dir, 'bad-policy.yaml')}:4:36: defaults.limits.maxConcurrentRequests: expected number to be >=1`);
  });
});

describe('meshlet explain', () => {
  it('prints the effective chain of one call with the source of every value', async () => {
    const r = await runMeshlet(['explain', '--config', join(dir, 'sidecar.yaml'), 'billing/billing.v1.Billing/Charge']);
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toContain('route      routes[1] "billing-charge" (backend billing, method billing.v1.Billing/Charge)');
    expect(out).toMatch(/timeoutMs\s+5000\s+routes\[1\] "billing-charge"/);
    expect(out).toMatch(/maxConcurrentRequests\s+200\s+backends\.billing/);
    expect(out).toMatch(/consecutiveFailures\s+7\s+defaults/);
    expect(out).toMatch(/policy\s+round_robin\s+.*sidecar\.yaml:5 upstreams\.billing\.balancing\.policy/);
  });

  it('reads the policy file the bootstrap names, prints the chain run builds, and credits file, env and defaults (issue 11)', async () => {
    const sidecar = join(dir, 'sidecar.yaml');
    const r = await runMeshlet(['explain', '--config', sidecar, 'orders/orders.v1.Orders/Get'], { CONSUL_HTTP_ADDR: '127.0.0.1:8500' });
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[1]).toBe(`policy     ${EXAMPLE_POLICY} (named by policy.file, ${sidecar}:6)`);
    expect(lines[3]).toMatch(/^chain {6}rescue → access-log → metrics → deadline → route → rate-limit \(.*\) → timeout .* → outlier \(enforce\) → endpoint-metrics → forward$/);
    expect(r.stdout).toMatch(/tracing\s+off\s+tracing\.mode off, built-in default/);
    expect(r.stdout).toMatch(/policy\s+least_request\s+built-in default/);
    expect(r.stdout).toMatch(/endpoints\s+discovered in Consul \(consul\.address: env CONSUL_HTTP_ADDR\)/);
  });

  it('takes a policy file alone, and rejects a malformed call name', async () => {
    const r = await runMeshlet(['explain', '--config', EXAMPLE_POLICY, 'sessions/sessions.v1.Sessions/Get']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/timeoutMs\s+2000\s+backends\.sessions/);
    // The guards of calls without a deadline and of idle calls (issue 14): built in, or set by a route.
    expect(r.stdout).toMatch(/unaryTimeoutMs\s+15000\s+built-in default/);
    expect(r.stdout).toMatch(/idleTimeoutMs\s+300000\s+built-in default/);
    const tail = await runMeshlet(['explain', '--config', EXAMPLE_POLICY, 'audit-log/audit.v1.AuditLog/Tail']);
    expect(tail.stdout).toMatch(/timeoutMs\s+0\s+routes\[3\] "audit-tail"/);
    expect(tail.stdout).toMatch(/idleTimeoutMs\s+3600000\s+routes\[3\] "audit-tail"/);
    expect(tail.stdout).toContain('→ timeout (unary 15000 ms, idle 3600000 ms) →');
    const bad = await runMeshlet(['explain', '--config', EXAMPLE_POLICY, 'sessions.v1.Sessions/Get']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('usage: meshlet explain');
  });
});

describe('meshlet run', () => {
  it('refuses to start with an invalid policy file, printing its issues', async () => {
    const r = await runMeshlet(['run', '--config', join(dir, 'sidecar-bad-policy.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(dir, 'bad-policy.yaml')}:4:36: defaults.limits.maxConcurrentRequests: expected number to be >=1`);
    expect(r.stderr).toContain('is invalid; nothing started');
  });
});
