// SPDX-License-Identifier: Apache-2.0
// grpcurl-style discovery through meshlet quick mode: the example services serve gRPC server reflection (v1 and
// v1alpha), and a reflection client talking to the sidecar lists their services and fetches their descriptors.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startOrderService } from '../../examples/services/order-service/server.js';
import type { RunningServer } from '../../examples/services/shared/server.js';
import { startUserService } from '../../examples/services/user-service/server.js';
import { quickModeInput } from '../../src/config/quick-mode.js';
import { startSidecar, type Sidecar } from '../helpers/sidecar.js';

const REFLECTION_PROTO_DIR = join(dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json')), 'build', 'proto');

/** `ServerReflectionResponse`, the parts this test reads (proto-loader, lowerCamelCase, bytes as Buffer). */
interface ReflectionResponse {
  listServicesResponse?: { service: Array<{ name: string }> };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

type Version = 'v1' | 'v1alpha';

/** A reflection client of `version` on `address` (grpcurl asks v1alpha first, newer tools v1). */
function reflectionClient(version: Version, address: string): grpc.Client {
  const pkg = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, { includeDirs: [REFLECTION_PROTO_DIR], defaults: true });
  const Client = grpc.makeGenericClientConstructor(pkg[`grpc.reflection.${version}.ServerReflection`] as grpc.ServiceDefinition, 'ServerReflection');
  return new Client(address, grpc.credentials.createInsecure());
}

/** Sends one request on a fresh ServerReflectionInfo stream and resolves with the one response. */
function ask(client: grpc.Client, request: Record<string, string>): Promise<ReflectionResponse> {
  return new Promise((resolve, reject) => {
    const call = (client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, ReflectionResponse> }).ServerReflectionInfo();
    let answer: ReflectionResponse | undefined;
    call.on('data', (r: ReflectionResponse) => (answer = r));
    call.on('error', reject);
    call.on('end', () => (answer === undefined ? reject(new Error('no reflection response')) : resolve(answer)));
    call.write(request);
    call.end();
  });
}

describe('server reflection through meshlet quick mode', () => {
  let users: RunningServer;
  let orders: RunningServer;
  let userProxy: Sidecar;
  let orderProxy: Sidecar;

  beforeAll(async () => {
    users = await startUserService();
    orders = await startOrderService({ userServiceAddress: users.address });
    userProxy = await startSidecar(quickModeInput({ listen: '127.0.0.1:0', upstream: users.address, admin: '127.0.0.1:0' }));
    orderProxy = await startSidecar(quickModeInput({ listen: '127.0.0.1:0', upstream: orders.address, admin: '127.0.0.1:0' }));
  });
  afterAll(async () => {
    await userProxy?.close();
    await orderProxy?.close();
    await orders?.close(0);
    await users?.close(0);
  });

  for (const version of ['v1alpha', 'v1'] as const) {
    it(`lists user-service's services over grpc.reflection.${version} via the sidecar`, async () => {
      const client = reflectionClient(version, userProxy.inbound!);
      try {
        const r = await ask(client, { listServices: '*' });
        expect(r.errorResponse).toBeUndefined();
        expect(r.listServicesResponse?.service.map((s) => s.name).sort()).toEqual(['grpc.health.v1.Health', 'user.v1.UserService']);
      } finally {
        client.close();
      }
    });
  }

  it("lists order-service's services and returns the descriptor that defines a method, as grpcurl describe does", async () => {
    const client = reflectionClient('v1alpha', orderProxy.inbound!);
    try {
      const list = await ask(client, { listServices: '*' });
      expect(list.listServicesResponse?.service.map((s) => s.name).sort()).toEqual(['grpc.health.v1.Health', 'order.v1.OrderService']);
      const file = await ask(client, { fileContainingSymbol: 'order.v1.OrderService' });
      expect(file.errorResponse).toBeUndefined();
      const descriptors = file.fileDescriptorResponse?.fileDescriptorProto ?? [];
      expect(descriptors.length).toBeGreaterThan(0);
      expect(Buffer.concat(descriptors).toString('latin1')).toContain('ListOrders');
    } finally {
      client.close();
    }
  });

  it('answers NOT_FOUND in-band for a symbol the service does not define', async () => {
    const client = reflectionClient('v1', userProxy.inbound!);
    try {
      const r = await ask(client, { fileContainingSymbol: 'nope.v1.Missing' });
      expect(r.errorResponse?.errorCode).toBe(grpc.status.NOT_FOUND);
    } finally {
      client.close();
    }
  });
});
