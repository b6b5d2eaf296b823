// SPDX-License-Identifier: Apache-2.0
// The `consul` certificate source against the Consul double's Connect CA endpoints (backed by meshlet's own CA):
// first material, leaf and root rotation pushed through blocking reads (generation + 1), an agent answering 500
// keeps the old material and recovers, close() leaves no read parked and no timer.
import { X509Certificate } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createConsulClient, type ConsulClient } from '../../../../src/discovery/consul/client.js';
import type { TlsMaterial } from '../../../../src/tls/material.js';
import { splitPemCertificates } from '../../../../src/tls/pem.js';
import { createConsulSource, type ConsulCertSource } from '../../../../src/tls/sources/consul.js';
import { startConsulDouble, type ConsulDouble } from '../../../doubles/consul.js';
import { captureLogger } from '../../../helpers/tls.js';

let double: ConsulDouble | undefined;
let client: ConsulClient | undefined;
let source: ConsulCertSource | undefined;

afterEach(async () => {
  source?.close();
  client?.close();
  await double?.close();
  source = undefined;
  client = undefined;
  double = undefined;
});

async function setup(opts: { aclToken?: string } = {}) {
  double = await startConsulDouble({ connectCa: {}, ...opts });
  client = createConsulClient({ address: double.address, ...(opts.aclToken !== undefined && { token: opts.aclToken }) });
  const cap = captureLogger();
  const changes: TlsMaterial[] = [];
  source = createConsulSource({ client, service: 'web', log: cap.log, backoff: { baseMs: 10, maxMs: 50 }, minIntervalMs: 10 });
  source.onChange((m) => changes.push(m));
  return { d: double, s: source, cap, changes };
}

function changeWhere(s: ConsulCertSource, match: (m: TlsMaterial) => boolean): Promise<TlsMaterial> {
  return new Promise((resolve) => {
    const off = s.onChange((m) => {
      if (!match(m)) return;
      off();
      resolve(m);
    });
  });
}

const leafCert = (m: TlsMaterial): X509Certificate => new X509Certificate(splitPemCertificates(m.certChainPem)[0]!);

describe('consul certificate source', () => {
  it("starts with the agent's leaf for the service and the roots as the bundle", async () => {
    const { d, s } = await setup({ aclToken: 'secret' });
    const m = await s.start();
    expect(m.generation).toBe(1);
    expect(m.identity).toBe(`spiffe://${d.connectTrustDomain}/ns/default/dc/dc1/svc/web`);
    expect(splitPemCertificates(m.trustBundlePem)).toHaveLength(1);
    expect(s.kind).toBe('consul');
    expect(d.requestsTo('/v1/agent/connect/ca/leaf/web')[0]?.token).toBe('secret');
    // Both loops then park on blocking reads.
    await d.waitFor(() => d.blockedCount() === 2, 'both reads blocked');
    const blocked = d.requestsTo('/v1/agent/connect/ca/leaf/web').at(-1)!;
    expect(Number(blocked.query.index)).toBeGreaterThan(1);
    expect(blocked.query.wait).toBe('300000ms');
  });

  it('gets a rotated leaf pushed through the blocked read as generation 2', async () => {
    const { d, s } = await setup();
    const first = await s.start();
    await d.waitFor(() => d.blockedCount() === 2, 'both reads blocked');
    const next = changeWhere(s, () => true);
    d.rotateConnectLeaf('web');
    const m = await next;
    expect(m.generation).toBe(2);
    expect(leafCert(m).serialNumber).not.toBe(leafCert(first).serialNumber);
    expect(d.connectLeavesIssued('web')).toBe(2);
  });

  it('follows a CA root rotation: both roots trusted, the new leaf chains to the new root', async () => {
    const { d, s } = await setup();
    const first = await s.start();
    await d.waitFor(() => d.blockedCount() === 2, 'both reads blocked');
    const rotated = changeWhere(s, (m) => splitPemCertificates(m.trustBundlePem).length === 2 && m.keyPem !== first.keyPem);
    await d.rotateConnectRoot();
    const m = await rotated;
    const [newRoot, oldRoot] = splitPemCertificates(m.trustBundlePem).map((p) => new X509Certificate(p));
    expect(leafCert(m).verify(newRoot!.publicKey)).toBe(true);
    expect(leafCert(first).verify(oldRoot!.publicKey)).toBe(true);
    expect(s.current()).toBe(m);
  });

  it('keeps the last good material while the agent answers 500, then recovers and follows rotation again', async () => {
    const { d, s, cap } = await setup();
    const first = await s.start();
    await d.waitFor(() => d.blockedCount() === 2, 'both reads blocked');
    await d.outage(true, 'error');
    await d.waitFor(() => cap.lines.some((l) => l.msg === 'Consul CA read failed; keeping the current certificates'), 'a failed read logged');
    expect(s.current()).toBe(first);
    expect(s.status().consecutiveErrors).toBeGreaterThan(0);
    expect(String(cap.lines.find((l) => l.level === 'warn')?.err)).toContain('HTTP 500: rpc error making call: No cluster leader');
    await d.outage(false);
    await d.waitFor(() => d.blockedCount() === 2, 'both reads blocked again after recovery');
    expect(s.status().consecutiveErrors).toBe(0);
    expect(s.current()).toBe(first);
    const next = changeWhere(s, () => true);
    d.rotateConnectLeaf('web');
    expect((await next).generation).toBe(2);
    expect(cap.text()).not.toContain('PRIVATE KEY');
  });

  it('close() aborts the parked reads and sends nothing more', async () => {
    const { d, s } = await setup();
    await s.start();
    await d.waitFor(() => d.blockedCount() === 2, 'both reads blocked');
    s.close();
    await d.waitFor(() => d.blockedCount() === 0 && d.activeCount() === 0, 'reads aborted');
    const sent = d.requests.length;
    d.rotateConnectLeaf('web');
    await d.rotateConnectRoot();
    expect(d.requests.length).toBe(sent);
    expect(s.current()?.generation).toBe(1);
  });

  it('start() rejects naming the endpoints and the reason when no valid certificate arrives in time', async () => {
    double = await startConsulDouble({}); // Connect disabled: both endpoints answer 500
    client = createConsulClient({ address: double.address });
    source = createConsulSource({ client, service: 'web', log: captureLogger().log, backoff: { baseMs: 10, maxMs: 20 }, startTimeoutMs: 300 });
    await expect(source.start()).rejects.toThrow(
      /consul \/v1\/agent\/connect\/ca\/leaf\/web and \/v1\/agent\/connect\/ca\/roots: no valid certificate after 300 ms: .*Connect must be enabled/,
    );
  });
});
