// SPDX-License-Identifier: Apache-2.0
// Registration of the local service: the body as the agent receives it (Weights, gRPC check, durations), the
// ACL token, deregistration on shutdown, and failures carrying the agent's text.
import { afterEach, describe, expect, it } from 'vitest';
import { createConsulClient, type ConsulClient } from '../../../../src/discovery/consul/client.js';
import {
  buildServiceRegistration,
  createConsulRegistration,
  defaultServiceAddress,
  goDuration,
  type ServiceRegistrationInput,
} from '../../../../src/discovery/consul/registration.js';
import { bootstrapSchema } from '../../../../src/config/schema.js';
import { startConsulDouble, type ConsulDouble } from '../../../doubles/consul.js';

const config = bootstrapSchema.parse({
  service: { name: 'orders', tags: ['grpc', 'v1'], meta: { version: '1.2.0' }, weight: 10 },
  inbound: { listen: '0.0.0.0:4143', app: '127.0.0.1:50051' },
  consul: { check: { intervalMs: 5000, timeoutMs: 1500, deregisterCriticalAfterMs: 90_000 } },
});
if (config.consul === undefined) throw new Error('fixture: consul section expected');
const input: ServiceRegistrationInput = { service: config.service, address: '10.0.0.5', port: 4143, check: config.consul.check };

let double: ConsulDouble | undefined;
let client: ConsulClient | undefined;

afterEach(async () => {
  client?.close();
  client = undefined;
  await double?.close();
  double = undefined;
});

describe('buildServiceRegistration', () => {
  it('derives the ID and the gRPC health check on the inbound port from config', () => {
    expect(buildServiceRegistration(input)).toEqual({
      ID: 'orders-10.0.0.5-4143',
      Name: 'orders',
      Tags: ['grpc', 'v1'],
      Address: '10.0.0.5',
      Port: 4143,
      Meta: { version: '1.2.0' },
      Weights: { Passing: 10, Warning: 1 },
      EnableTagOverride: false,
      Checks: [
        {
          CheckID: 'service:orders-10.0.0.5-4143:grpc',
          Name: 'meshlet gRPC health',
          GRPC: '10.0.0.5:4143',
          GRPCUseTLS: false,
          Interval: '5s',
          Timeout: '1500ms',
          DeregisterCriticalServiceAfter: '90s',
        },
      ],
    });
  });

  it('honours a configured ID, brackets IPv6 in the check target, and sets TLS options when asked', () => {
    const reg = buildServiceRegistration({
      ...input,
      service: { ...input.service, id: 'orders-a' },
      address: 'fd00::5',
      grpcUseTls: true,
      tlsSkipVerify: true,
    });
    expect(reg.ID).toBe('orders-a');
    expect(reg.Checks[0]).toMatchObject({ GRPC: '[fd00::5]:4143', GRPCUseTLS: true, TLSSkipVerify: true });
  });

  it.each(['0.0.0.0', '::', ''])('refuses the unspecified address %j (Consul: "Invalid service address")', (address) => {
    expect(() => buildServiceRegistration({ ...input, address })).toThrow(TypeError);
  });

  it('refuses port 0 (register after listen, with the bound port)', () => {
    expect(() => buildServiceRegistration({ ...input, port: 0 })).toThrow('invalid inbound port 0');
  });

  it('points the gRPC check at the plaintext health port when given, keeping the service on the inbound port', () => {
    // mtls.inbound.mode strict: the agent has no mesh certificate, so only the health listener can answer it.
    const reg = buildServiceRegistration({ ...input, checkPort: 4144 });
    expect(reg).toMatchObject({ ID: 'orders-10.0.0.5-4143', Address: '10.0.0.5', Port: 4143 });
    expect(reg.Checks).toHaveLength(1);
    expect(reg.Checks[0]).toMatchObject({ GRPC: '10.0.0.5:4144', GRPCUseTLS: false });
    expect(buildServiceRegistration({ ...input, address: 'fd00::5', checkPort: 4144 }).Checks[0]?.GRPC).toBe('[fd00::5]:4144');
  });

  it('refuses health check port 0', () => {
    expect(() => buildServiceRegistration({ ...input, checkPort: 0 })).toThrow('invalid health check port 0');
  });
});

describe('goDuration / defaultServiceAddress', () => {
  it('formats whole seconds as s and the rest as ms', () => {
    expect([goDuration(10_000), goDuration(60_000), goDuration(1500), goDuration(100)]).toEqual(['10s', '60s', '1500ms', '100ms']);
  });

  it('picks the first non-internal IPv4 address', () => {
    const ifs = {
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
      eth0: [
        { address: 'fe80::1', family: 'IPv6', internal: false },
        { address: '10.1.2.3', family: 'IPv4', internal: false },
      ],
    } as unknown as Parameters<typeof defaultServiceAddress>[0];
    expect(defaultServiceAddress(ifs)).toBe('10.1.2.3');
    expect(defaultServiceAddress({})).toBeUndefined();
  });
});

describe('createConsulRegistration', () => {
  it('registers the body the agent validates and stores, with Weights and the check, then deregisters', async () => {
    double = await startConsulDouble({ aclToken: 'tok' });
    client = createConsulClient({ address: double.address, token: 'tok' });
    const reg = createConsulRegistration(client, buildServiceRegistration(input));
    await reg.register();

    expect(double.registrations).toEqual([buildServiceRegistration(input)]);
    const put = double.requestsTo('/v1/agent/service/register')[0];
    expect(put).toMatchObject({ method: 'PUT', token: 'tok', query: { 'replace-existing-checks': 'true' } });
    expect(put?.body).toMatchObject({
      Weights: { Passing: 10, Warning: 1 },
      Checks: [{ GRPC: '10.0.0.5:4143', Interval: '5s', Timeout: '1500ms', DeregisterCriticalServiceAfter: '90s' }],
    });
    expect(await client.listServices()).toMatchObject({
      'orders-10.0.0.5-4143': { Service: 'orders', Port: 4143, Weights: { Passing: 10, Warning: 1 } },
    });
    // A new check is critical until the agent's first gRPC probe passes: not discoverable yet.
    expect((await client.healthService({ service: 'orders' })).entries).toEqual([]);

    await reg.deregister();
    expect(double.requestsTo('/v1/agent/service/deregister/orders-10.0.0.5-4143')).toHaveLength(1);
    expect(await client.listServices()).toEqual({});
    await reg.deregister(); // idempotent: nothing more sent
    expect(double.requestsTo('/v1/agent/service/deregister/')).toHaveLength(1);
  });

  it('treats an ID the agent no longer knows (reaped) as deregistered', async () => {
    double = await startConsulDouble();
    client = createConsulClient({ address: double.address });
    const reg = createConsulRegistration(client, buildServiceRegistration(input));
    await reg.register();
    await client.deregisterService(reg.id); // e.g. DeregisterCriticalServiceAfter fired
    await expect(reg.deregister()).resolves.toBeUndefined();
  });

  it('does not deregister what it never registered', async () => {
    double = await startConsulDouble();
    client = createConsulClient({ address: double.address });
    await createConsulRegistration(client, buildServiceRegistration(input)).deregister();
    expect(double.requests).toHaveLength(0);
  });

  it('fails with the agent ACL text when the token lacks service:write', async () => {
    double = await startConsulDouble({ aclToken: 'tok' });
    client = createConsulClient({ address: double.address });
    const reg = createConsulRegistration(client, buildServiceRegistration(input));
    await expect(reg.register()).rejects.toThrow(
      "consul agent.service.register: HTTP 403: Permission denied: anonymous token lacks permission 'service:write' on \"orders\"",
    );
    client.close();
    client = createConsulClient({ address: double.address, token: 'wrong' });
    await expect(createConsulRegistration(client, buildServiceRegistration(input)).register()).rejects.toThrow(
      'HTTP 403: ACL not found',
    );
  });
});
