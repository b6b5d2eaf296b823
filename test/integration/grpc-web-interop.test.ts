// SPDX-License-Identifier: Apache-2.0
// Interop with a gRPC-Web client nobody here wrote (issue 16): @connectrpc/connect-web's gRPC-Web transport (in
// Node, global fetch = undici over HTTP/1.1) with the protobuf-es code of examples/web/gen, calling the example
// user-service (grpc-js) through meshlet. Unary and server streaming, success and errors, meshlet-made errors.

import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserService } from '../../examples/web/gen/user_pb.js';
import { createInMemoryUserRepository, type UserRepository } from '../../examples/services/user-service/repository.js';
import { startUserService } from '../../examples/services/user-service/server.js';
import type { RunningServer } from '../../examples/services/shared/server.js';
import { startSidecar, type Sidecar } from '../helpers/sidecar.js';

/** The seeded repository, except that each page after the first waits until the test releases it. */
function gatedRepository(): { repository: UserRepository; release(): void } {
  const inner = createInMemoryUserRepository();
  let open: (() => void) | undefined;
  let gate = new Promise<void>((r) => (open = r));
  return {
    repository: {
      get: (id) => inner.get(id),
      paymentCard: (id) => inner.paymentCard(id),
      async list(page) {
        if (page.pageToken !== undefined) await gate;
        return inner.list(page);
      },
    },
    release() {
      open?.();
      gate = Promise.resolve();
    },
  };
}

let app: RunningServer;
let sc: Sidecar;
let client: Client<typeof UserService>;
const gated = gatedRepository();

beforeAll(async () => {
  app = await startUserService({ repository: gated.repository });
  sc = await startSidecar({ service: { name: 'user-service' }, inbound: { listen: '127.0.0.1:0', app: app.address, grpcWeb: {} } }, { level: 'silent' });
  client = createClient(UserService, createGrpcWebTransport({ baseUrl: `http://${sc.inbound}`, useBinaryFormat: true }));
});

afterAll(async () => {
  await sc?.close();
  await app?.close();
});

describe('connect-web gRPC-Web transport → meshlet → grpc-js', () => {
  it('makes a unary call', async () => {
    const user = await client.getUser({ id: 'u-3' });
    expect({ id: user.id, name: user.name, email: user.email }).toEqual({ id: 'u-3', name: 'Grace Hopper', email: 'grace@example.com' });
  });

  it('reads the app\'s NOT_FOUND and INVALID_ARGUMENT from the trailers', async () => {
    const notFound = await client.getUser({ id: 'u-999' }).catch((e: unknown) => ConnectError.from(e));
    expect(notFound).toBeInstanceOf(ConnectError);
    expect((notFound as ConnectError).code).toBe(Code.NotFound);
    expect((notFound as ConnectError).rawMessage).toContain('u-999');
    const invalid = await client.getUser({ id: 'nope' }).catch((e: unknown) => ConnectError.from(e));
    expect((invalid as ConnectError).code).toBe(Code.InvalidArgument);
  });

  it('streams ListUsers message by message: the first user arrives before the server wrote the rest', async () => {
    const it = client.listUsers({ pageSize: 1 })[Symbol.asyncIterator]();
    const first = await it.next();
    // The repository holds every page after the first until now: the first user went through meshlet on its own.
    expect(first.value?.id).toBe('u-1');
    gated.release();
    const rest: string[] = [];
    for (let r = await it.next(); r.done !== true; r = await it.next()) rest.push(r.value.id);
    expect(rest).toEqual(['u-2', 'u-3', 'u-4', 'u-5', 'u-6', 'u-7', 'u-8', 'u-9', 'u-10', 'u-11', 'u-12']);
  });

  it('reads an error that ends a stream (INVALID_ARGUMENT for a negative page size)', async () => {
    const err = await (async () => {
      for await (const _ of client.listUsers({ pageSize: -1 })) void _;
    })().catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
  });

  it('ends a call whose grpc-timeout expires with DEADLINE_EXCEEDED', async () => {
    // A 1 ms budget: whichever of the client, meshlet's deadline layer and the app sees it expire first ends it.
    const err = await client.getUser({ id: 'u-1' }, { timeoutMs: 1 }).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.DeadlineExceeded);
  });

  it('gets UNAVAILABLE with x-meshlet-error when the app is down', async () => {
    const down = await startSidecar({ service: { name: 'gone' }, inbound: { listen: '127.0.0.1:0', app: '127.0.0.1:1', grpcWeb: {} } }, { level: 'silent' });
    try {
      const c = createClient(UserService, createGrpcWebTransport({ baseUrl: `http://${down.inbound}`, useBinaryFormat: true }));
      const err = (await c.getUser({ id: 'u-1' }).catch((e: unknown) => ConnectError.from(e))) as ConnectError;
      expect(err.code).toBe(Code.Unavailable);
      expect(err.metadata.get('x-meshlet-error')).toBe('ERR_UPSTREAM_CONNECT');
    } finally {
      await down.close();
    }
  });
});
