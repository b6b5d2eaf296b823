// SPDX-License-Identifier: Apache-2.0
// The typed Consul client against the Consul double: what goes on the wire (token, dc, ns, index/wait, register
// body), what comes back (index, typed entries), how failures read (the agent's text), cancellation and https.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Consul from 'consul';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConsulError,
  consulClientOptions,
  createConsulClient,
  type AgentServiceRegistration,
  type ConsulClient,
} from '../../../../src/discovery/consul/client.js';
import { consulSchema } from '../../../../src/config/schema.js';
import { startConsulDouble, type ConsulDouble } from '../../../doubles/consul.js';

const REG: AgentServiceRegistration = {
  ID: 'orders-1',
  Name: 'orders',
  Tags: ['grpc'],
  Address: '10.0.0.5',
  Port: 4143,
  Meta: { version: '1.2.0' },
  Weights: { Passing: 7, Warning: 1 },
  EnableTagOverride: false,
  Checks: [{ Name: 'grpc', GRPC: '10.0.0.5:4143', GRPCUseTLS: false, Interval: '10s', Timeout: '2s' }],
};

let double: ConsulDouble | undefined;
let client: ConsulClient | undefined;

afterEach(async () => {
  client?.close();
  client = undefined;
  await double?.close();
  double = undefined;
});

async function setup(opts: Parameters<typeof startConsulDouble>[0] = {}, clientOpts: object = {}) {
  double = await startConsulDouble(opts);
  client = createConsulClient({ address: double.address, ...clientOpts });
  return { d: double, c: client };
}

describe('healthService', () => {
  it('does a non-blocking read first and returns X-Consul-Index and typed entries', async () => {
    const { d, c } = await setup();
    d.addInstance({ service: 'orders', port: 9000, nodeAddress: '10.1.0.1', meta: { zone: 'a' } });
    const res = await c.healthService({ service: 'orders' });
    expect(res.index).toBe(BigInt(d.indexOf('orders')));
    expect(res.entries).toHaveLength(1);
    expect(res.entries[0]?.Node.Address).toBe('10.1.0.1');
    expect(res.entries[0]?.Service).toMatchObject({ Service: 'orders', Address: '', Port: 9000, Meta: { zone: 'a' } });
    expect(res.entries[0]?.Service.Weights).toEqual({ Passing: 1, Warning: 1 });
    const [req] = d.requestsTo('/v1/health/service/orders');
    expect(req?.query).toEqual({ passing: 'true' });
  });

  it('sends index and wait only for a blocking read, and blocks until the service changes', async () => {
    const { d, c } = await setup();
    d.addInstance({ service: 'orders', port: 9000 });
    const first = await c.healthService({ service: 'orders' });
    const pending = c.healthService({ service: 'orders', index: first.index, waitMs: 60_000 });
    await d.waitFor(() => d.blockedCount() === 1, 'the read to block');
    d.addInstance({ service: 'orders', port: 9001 });
    const second = await pending;
    expect(second.index).toBeGreaterThan(first.index);
    expect(second.entries).toHaveLength(2);
    expect(d.requestsTo('/v1/health/service/orders')[1]?.query).toEqual({
      passing: 'true',
      index: String(first.index),
      wait: '60000ms',
    });
  });

  it('sends the ACL token, the datacenter and the namespace', async () => {
    const { d, c } = await setup({ aclToken: 's3cret' }, { token: 's3cret', datacenter: 'dc1', namespace: 'team-a' });
    await c.healthService({ service: 'orders' });
    const [req] = d.requests;
    expect(req?.token).toBe('s3cret');
    expect(req?.query).toMatchObject({ dc: 'dc1', ns: 'team-a' });
  });

  it('surfaces the agent body text, not the package\'s bare "forbidden"', async () => {
    const { c } = await setup({ aclToken: 's3cret' });
    const err = await c.healthService({ service: 'orders' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConsulError);
    expect((err as ConsulError).statusCode).toBe(403);
    expect((err as ConsulError).message).toBe(
      "consul health.service: HTTP 403: Permission denied: anonymous token lacks permission 'service:read' on " +
        '"orders". The anonymous token is used implicitly when a request does not specify a token.',
    );
  });

  it('fails like Consul for an unknown datacenter', async () => {
    const { c } = await setup({}, { datacenter: 'mars' });
    await expect(c.healthService({ service: 'orders' })).rejects.toThrow('HTTP 500: No path to datacenter');
  });

  it('rejects with a transport error (no status) when the agent is down', async () => {
    const { d, c } = await setup();
    await d.outage(true, 'refuse');
    const err = (await c.healthService({ service: 'orders' }).catch((e: unknown) => e)) as ConsulError;
    expect(err).toBeInstanceOf(ConsulError);
    expect(err.statusCode).toBeUndefined();
    expect(err.message).toMatch(/^consul health\.service: .*ECONNREFUSED/);
  });

  for (const [fault, reason] of [
    ['truncate', 'truncated'],
    ['not-json', 'not_json'],
    ['missing-fields', 'missing_fields'],
  ] as const) {
    it(`tells a ${reason} 2xx answer apart from a failure (badResponse), with no status error`, async () => {
      const { d, c } = await setup();
      d.addInstance({ service: 'orders', port: 9000 });
      d.faultHealth(fault);
      const err = (await c.healthService({ service: 'orders' }).catch((e: unknown) => e)) as ConsulError;
      expect(err).toBeInstanceOf(ConsulError);
      expect(err.badResponse).toBe(reason);
      expect(err.message).toMatch(/^consul health\.service: unexpected response/);
    });
  }

  it('drops an answer larger than maxResponseBytes instead of buffering it (too_large)', async () => {
    const { d, c } = await setup({}, { maxResponseBytes: 1024 });
    for (let i = 0; i < 10; i++) d.addInstance({ service: 'orders', port: 9000 + i });
    const err = (await c.healthService({ service: 'orders' }).catch((e: unknown) => e)) as ConsulError;
    expect(err.badResponse).toBe('too_large');
    await d.waitFor(() => d.activeCount() === 0, 'the connection to be dropped');
  });

  it('gives a transport or HTTP failure no badResponse', async () => {
    const { d, c } = await setup();
    await d.outage(true, 'error');
    const err = (await c.healthService({ service: 'orders' }).catch((e: unknown) => e)) as ConsulError;
    expect(err.statusCode).toBe(500);
    expect(err.badResponse).toBeUndefined();
  });

  it('aborts a blocked read on signal and leaves no request open', async () => {
    const { d, c } = await setup();
    d.addInstance({ service: 'orders', port: 9000 });
    const first = await c.healthService({ service: 'orders' });
    const ac = new AbortController();
    const pending = c.healthService({ service: 'orders', index: first.index, signal: ac.signal });
    await d.waitFor(() => d.blockedCount() === 1, 'the read to block');
    ac.abort();
    const err = (await pending.catch((e: unknown) => e)) as ConsulError;
    expect(err.aborted).toBe(true);
    await d.waitFor(() => d.activeCount() === 0 && d.blockedCount() === 0, 'the double to see the abort');
  });
});

describe('registerService / deregisterService / listServices', () => {
  it('PUTs the registration body unchanged, Weights and EnableTagOverride included', async () => {
    const { d, c } = await setup({ aclToken: 't' }, { token: 't', namespace: 'team-a' });
    await c.registerService(REG, { replaceExistingChecks: true });
    expect(d.registrations).toEqual([REG]);
    const [req] = d.requests;
    expect(req).toMatchObject({ method: 'PUT', path: '/v1/agent/service/register', token: 't' });
    expect(req?.query).toEqual({ 'replace-existing-checks': 'true', ns: 'team-a' });
    const listed = await c.listServices();
    expect(listed['orders-1']).toMatchObject({ Service: 'orders', Port: 4143, Weights: { Passing: 7, Warning: 1 } });
  });

  it('surfaces the agent validation text of a rejected registration', async () => {
    const { c } = await setup();
    // Interval missing: the type forbids it, so force it past the compiler as a buggy caller would.
    const bad = { ...REG, Checks: [{ Name: 'grpc', GRPC: '10.0.0.5:4143', Timeout: '2s' }] } as unknown as AgentServiceRegistration;
    await expect(c.registerService(bad)).rejects.toThrow(
      'consul agent.service.register: HTTP 400: Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks',
    );
  });

  it('deregisters with the token and namespace, and reports 404 for an unknown ID', async () => {
    const { d, c } = await setup({ aclToken: 't' }, { token: 't', namespace: 'team-a' });
    await c.registerService(REG);
    await c.deregisterService('orders-1');
    const req = d.requestsTo('/v1/agent/service/deregister/')[0];
    expect(req).toMatchObject({ method: 'PUT', path: '/v1/agent/service/deregister/orders-1', token: 't' });
    expect(req?.query).toEqual({ ns: 'team-a' });
    expect(await c.listServices()).toEqual({});
    const err = (await c.deregisterService('orders-1').catch((e: unknown) => e)) as ConsulError;
    expect(err.statusCode).toBe(404);
    expect(err.message).toContain('Unknown service ID "orders-1"');
  });

  it('documents why registration bypasses the package: its register() drops Weights and EnableTagOverride', async () => {
    const { d } = await setup();
    const pkg = new Consul({ host: '127.0.0.1', port: d.port });
    try {
      await pkg.agent.service.register({ name: 'orders', port: 1, weights: { passing: 7, warning: 1 }, enableTagOverride: true } as never);
    } finally {
      pkg.destroy();
    }
    expect(d.registrations[0]).toEqual({ Name: 'orders', Port: 1 });
  });
});

describe('configuration', () => {
  it('maps the bootstrap consul section', () => {
    const cfg = consulSchema.parse({
      address: 'https://consul:8501',
      token: 't',
      datacenter: 'dc2',
      namespace: 'n',
      caFile: '/ca.pem',
      requestTimeoutMs: 2000,
    });
    expect(consulClientOptions(cfg)).toEqual({
      address: 'https://consul:8501',
      token: 't',
      datacenter: 'dc2',
      namespace: 'n',
      caFile: '/ca.pem',
      requestTimeoutMs: 2000,
      maxResponseBytes: 64 * 1024 * 1024,
    });
  });

  it('names an unreadable caFile', () => {
    expect(() => createConsulClient({ address: 'https://127.0.0.1:8501', caFile: '/nonexistent/ca.pem' })).toThrow(
      'consul caFile "/nonexistent/ca.pem"',
    );
  });

  it('rejects a non-http address', () => {
    expect(() => createConsulClient({ address: 'unix:///tmp/consul.sock' })).toThrow(TypeError);
  });
});

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasOpenssl)('https agent', () => {
  it('verifies the agent with caFile, and refuses it without', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshlet-consul-tls-'));
    try {
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
          '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'ca.pem'), '-subj', '/CN=127.0.0.1',
          '-addext', 'subjectAltName=IP:127.0.0.1'],
        { stdio: 'ignore' },
      );
      double = await startConsulDouble({
        tls: { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'ca.pem')) },
      });
      expect(double.address).toMatch(/^https:/);
      client = createConsulClient({ address: double.address, caFile: join(dir, 'ca.pem') });
      await expect(client.healthService({ service: 'orders' })).resolves.toMatchObject({ entries: [] });
      const untrusting = createConsulClient({ address: double.address });
      try {
        await expect(untrusting.healthService({ service: 'orders' })).rejects.toThrow(/self[- ]signed/i);
      } finally {
        untrusting.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
