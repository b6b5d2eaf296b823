// SPDX-License-Identifier: Apache-2.0
// Policy hot reload through a real sidecar (issue 4 acceptance): a valid change applies within 1 s without
// dropping calls in flight; an invalid file changes nothing and is reported (file:line:column in the log, and a
// counted `rejected`); a Kubernetes ConfigMap update (symlink swap) is picked up.
import * as grpc from '@grpc/grpc-js';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { echoClient, startEcho, unary, type EchoClient, type EchoServer } from '../helpers/echo.js';
import { startPolicySidecar, type PolicySidecar } from '../helpers/resilience.js';
import { waitUntil } from '../helpers/wait.js';
import { useCleanup } from '../helpers/cleanup.js';

const defer = useCleanup();

async function echo(): Promise<EchoServer> {
  const e = await startEcho();
  defer(() => e.close());
  return e;
}
async function sidecar(opts: Parameters<typeof startPolicySidecar>[0]): Promise<PolicySidecar> {
  const s = await startPolicySidecar(opts);
  defer(() => s.close());
  return s;
}
function client(address: string): EchoClient {
  const c = echoClient(address, 'echo');
  defer(() => c.close());
  return c;
}
function slow(ms: number): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('delay-ms', String(ms));
  return md;
}

const TIMEOUT_200 = 'routes:\n  - match: { method: "test.Echo/Unary" }\n    timeoutMs: 200\n';

describe('policy reload', () => {
  it('a valid change takes effect within 1 s without dropping calls in flight', async () => {
    const e = await echo();
    const s = await sidecar({ endpoints: [e.address], policyYaml: 'routes: []\n' });
    const c = client(s.outbound);
    // Five calls in flight across the reload; they run longer than the new route timeout.
    const inFlight = Array.from({ length: 5 }, () => unary(c, Buffer.from('x'), slow(600)));
    await waitUntil(() => e.calls.length >= 5, 'calls in flight upstream');

    const written = performance.now();
    await s.writePolicy(TIMEOUT_200);
    await waitUntil(() => s.events.count('reload:applied') === 1, 'reload applied', 1000);
    expect(performance.now() - written).toBeLessThan(1000);

    // The new route timeout applies to new calls...
    const after = await unary(c, Buffer.from('x'), slow(600));
    expect(after.err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // ...and the calls admitted before the swap were not touched.
    const results = await Promise.all(inFlight);
    expect(results.map((r) => r.err)).toEqual([null, null, null, null, null]);
    expect(s.logs.some((l) => l['msg'] === 'config reloaded' && l['component'] === 'policy')).toBe(true);
  });

  it('an invalid file changes nothing and is reported with file:line:column and a rejected count', async () => {
    const e = await echo();
    const s = await sidecar({ endpoints: [e.address], policyYaml: TIMEOUT_200 });
    const c = client(s.outbound);
    const before = s.app.policy.current();

    await s.writePolicy('routes:\n  - match: { method: "test.Echo/Unary" }\n    timeoutMs: -5\n');
    await waitUntil(() => s.events.count('reload:rejected') === 1, 'reload rejected', 2000);
    expect(s.app.policy.current()).toBe(before);
    const warn = s.logs.find((l) => l['level'] === 'warn' && l['component'] === 'policy');
    expect(warn?.['issues']).toEqual([`${s.policyFile}:3:16: routes[0].timeoutMs: expected number to be >=0`]);
    // Still the last good policy: the 200 ms route timeout.
    expect((await unary(c, Buffer.from('x'), slow(600))).err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);

    // Fixing the file applies it.
    await s.writePolicy('routes: []\n');
    await waitUntil(() => s.events.count('reload:applied') === 1, 'reload applied', 2000);
    expect((await unary(c, Buffer.from('x'), slow(300))).err).toBeNull();
    expect(s.events.count('reload:rejected')).toBe(1);
  });

  it('follows a Kubernetes ConfigMap update: the ..data symlink swapped in the watched directory', async () => {
    const e = await echo();
    // ConfigMap volume layout: policy.yaml -> ..data/policy.yaml, ..data -> ..2024_01 (the real files).
    const prepare = async (dir: string): Promise<string> => {
      const mount = join(dir, 'mount');
      await mkdir(join(mount, '..2024_01'), { recursive: true });
      await writeFile(join(mount, '..2024_01', 'policy.yaml'), 'routes: []\n');
      await symlink('..2024_01', join(mount, '..data'));
      await symlink(join('..data', 'policy.yaml'), join(mount, 'policy.yaml'));
      return join(mount, 'policy.yaml');
    };
    const s = await sidecar({ endpoints: [e.address], policyYaml: 'routes: []\n', prepare });
    const c = client(s.outbound);
    expect((await unary(c, Buffer.from('x'), slow(300))).err).toBeNull();

    // What the kubelet does: write the new version beside the old one, then swap ..data atomically (rename).
    const mount = join(s.dir, 'mount');
    await mkdir(join(mount, '..2024_02'));
    await writeFile(join(mount, '..2024_02', 'policy.yaml'), TIMEOUT_200);
    await symlink('..2024_02', join(mount, '..data_tmp'));
    await rename(join(mount, '..data_tmp'), join(mount, '..data'));

    await waitUntil(() => s.events.count('reload:applied') === 1, 'reload applied', 1000);
    expect((await unary(c, Buffer.from('x'), slow(600))).err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  it('carries per-backend state across a reload: calls admitted before it still count against the new limit', async () => {
    const e = await echo();
    const s = await sidecar({
      endpoints: [e.address],
      policyYaml: 'backends:\n  echo:\n    limits: { mode: enforce, maxConcurrentRequests: 2 }\n',
    });
    const c = client(s.outbound);
    const hold = [unary(c, Buffer.from('x'), slow(800)), unary(c, Buffer.from('x'), slow(800))];
    await waitUntil(() => e.calls.length >= 2, 'two calls in flight');
    await s.writePolicy('backends:\n  echo:\n    limits: { mode: enforce, maxConcurrentRequests: 3 }\n');
    await waitUntil(() => s.events.count('reload:applied') === 1, 'reload applied', 1000);
    // The two calls admitted before the reload still count: one more fits, the next does not.
    const third = unary(c, Buffer.from('x'), slow(300));
    await waitUntil(() => e.calls.length >= 3, 'third call upstream');
    const fourth = await unary(c, Buffer.from('x'));
    expect(fourth.trailers?.get('x-meshlet-error')).toEqual(['ERR_LIMIT_MAX_REQUESTS']);
    expect((await Promise.all([...hold, third])).map((r) => r.err)).toEqual([null, null, null]);
  });
});
