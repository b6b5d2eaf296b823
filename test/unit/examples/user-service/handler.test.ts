// SPDX-License-Identifier: Apache-2.0
// user-service handlers behind a real grpc-js server on port 0: status mapping (INVALID_ARGUMENT, NOT_FOUND,
// INTERNAL) and ListUsers pagination, page-size rules and early stop on cancel.

import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';

import { serverStreamCall, unaryCall } from '../../../../examples/services/shared/grpc-client.js';
import { createUserHandlers, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../../../../examples/services/user-service/handler.js';
import { createInMemoryUserRepository, type UserRepository } from '../../../../examples/services/user-service/repository.js';
import { userMethods, userServiceDefinition, type User } from '../../../../examples/services/user-service/types.js';
import { clientFor, collect, deferred, flushMicrotasks, rejection, serve, type TestServer } from '../grpc-harness.js';

const users = (count: number): User[] =>
  Array.from({ length: count }, (_, i) => ({ id: `u-${i + 1}`, name: `User ${i + 1}`, email: `u${i + 1}@example.com` }));

/** Wraps a repository and records every list() call. */
function recording(inner: UserRepository) {
  const listCalls: Array<{ pageSize: number; pageToken?: string | undefined }> = [];
  const repo: UserRepository = {
    get: (id) => inner.get(id),
    paymentCard: (userId) => inner.paymentCard(userId),
    list: (page) => {
      listCalls.push({ ...page });
      return inner.list(page);
    },
  };
  return { repo, listCalls };
}

let server: TestServer | undefined;
let client: grpc.Client | undefined;
afterEach(async () => {
  client?.close();
  await server?.close();
  server = client = undefined;
});

async function start(repository: UserRepository, wrap = (h: ReturnType<typeof createUserHandlers>) => h) {
  server = await serve([[userServiceDefinition(), wrap(createUserHandlers({ repository }))]]);
  client = clientFor(server.address);
  return client;
}

const methods = userMethods();

describe('UserService.GetUser', () => {
  it('returns the stored user', async () => {
    const c = await start(createInMemoryUserRepository(users(3)));
    expect(await unaryCall(c, methods.getUser, { id: 'u-2' })).toEqual(users(3)[1]);
  });

  it('answers NOT_FOUND naming the id when no such user exists', async () => {
    const c = await start(createInMemoryUserRepository(users(3)));
    const err = await rejection(unaryCall(c, methods.getUser, { id: 'u-42' }));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toBe('user "u-42" not found');
  });

  it.each([
    ['', 'id is required'],
    ['42', 'malformed'],
    ['u-', 'malformed'],
    ['u-0', 'malformed'],
    ['u-01', 'malformed'],
    ['u-1; DROP TABLE', 'malformed'],
  ])('answers INVALID_ARGUMENT for id %j', async (id, message) => {
    const c = await start(createInMemoryUserRepository(users(3)));
    const err = await rejection(unaryCall(c, methods.getUser, { id }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toContain(message);
  });

  it('answers INTERNAL without leaking the cause when the store fails', async () => {
    const c = await start({
      get: () => Promise.reject(new Error('connection to db-7 refused')),
      list: () => Promise.reject(new Error('unused')),
      paymentCard: () => Promise.reject(new Error('unused')),
    });
    const err = await rejection(unaryCall(c, methods.getUser, { id: 'u-1' }));
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(err.details).not.toContain('db-7');
  });
});

describe('UserService.GetPaymentCard', () => {
  const card = { userId: 'u-2', brand: 'visa', last4: '4242' };

  it("returns the user's card on file", async () => {
    const c = await start(createInMemoryUserRepository(users(3), [card]));
    expect(await unaryCall(c, methods.getPaymentCard, { userId: 'u-2' })).toEqual(card);
  });

  it('answers NOT_FOUND for a user without a card and for an unknown user', async () => {
    const c = await start(createInMemoryUserRepository(users(3), [card]));
    const none = await rejection(unaryCall(c, methods.getPaymentCard, { userId: 'u-1' }));
    expect([none.code, none.details]).toEqual([grpc.status.NOT_FOUND, 'no payment card on file for user "u-1"']);
    const unknown = await rejection(unaryCall(c, methods.getPaymentCard, { userId: 'u-42' }));
    expect(unknown.code).toBe(grpc.status.NOT_FOUND);
  });

  it('answers INVALID_ARGUMENT naming user_id for a malformed id', async () => {
    const c = await start(createInMemoryUserRepository(users(3), [card]));
    const err = await rejection(unaryCall(c, methods.getPaymentCard, { userId: 'bob' }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toContain('user_id "bob" is malformed');
  });

  it('answers INTERNAL without leaking the cause when the store fails', async () => {
    const c = await start({
      get: () => Promise.reject(new Error('unused')),
      list: () => Promise.reject(new Error('unused')),
      paymentCard: () => Promise.reject(new Error('vault-3 sealed')),
    });
    const err = await rejection(unaryCall(c, methods.getPaymentCard, { userId: 'u-1' }));
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(err.details).not.toContain('vault-3');
  });
});

describe('UserService.ListUsers', () => {
  it('streams every user in order, reading the store one page of page_size at a time', async () => {
    const { repo, listCalls } = recording(createInMemoryUserRepository(users(25)));
    const c = await start(repo);
    const got = await collect(serverStreamCall(c, methods.listUsers, { pageSize: 10 }));
    expect(got.map((u) => u.id)).toEqual(users(25).map((u) => u.id));
    expect(listCalls.map((p) => p.pageSize)).toEqual([10, 10, 10]);
    expect(listCalls[0]!.pageToken).toBeUndefined();
    expect(listCalls[1]!.pageToken).toEqual(expect.any(String));
    expect(listCalls[2]!.pageToken).not.toBe(listCalls[1]!.pageToken);
  });

  it.each([
    ['absent', undefined, DEFAULT_PAGE_SIZE],
    ['0', 0, DEFAULT_PAGE_SIZE],
    ['above the maximum', 5000, MAX_PAGE_SIZE],
    ['3', 3, 3],
  ])('reads pages of the effective size when page_size is %s', async (_label, pageSize, expected) => {
    const { repo, listCalls } = recording(createInMemoryUserRepository(users(2)));
    const c = await start(repo);
    const request = pageSize === undefined ? {} : { pageSize };
    expect(await collect(serverStreamCall(c, methods.listUsers, request))).toHaveLength(2);
    expect(listCalls[0]!.pageSize).toBe(expected);
  });

  it('answers INVALID_ARGUMENT for a negative page_size without reading the store', async () => {
    const { repo, listCalls } = recording(createInMemoryUserRepository(users(2)));
    const c = await start(repo);
    const err = await rejection(collect(serverStreamCall(c, methods.listUsers, { pageSize: -1 })));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toContain('page_size');
    expect(listCalls).toHaveLength(0);
  });

  it('ends the stream with INTERNAL after the users already sent when a later page fails', async () => {
    const inner = createInMemoryUserRepository(users(4));
    let calls = 0;
    const c = await start({
      get: inner.get,
      paymentCard: inner.paymentCard,
      list: (page) => (++calls === 1 ? inner.list(page) : Promise.reject(new Error('disk on fire'))),
    });
    const received: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const u of serverStreamCall(c, methods.listUsers, { pageSize: 2 })) received.push(u.id);
      })(),
    );
    expect(received).toEqual(['u-1', 'u-2']);
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(err.details).not.toContain('disk');
  });

  it('stops reading pages once the client cancels', async () => {
    const inner = createInMemoryUserRepository(users(3));
    const secondPage = deferred();
    const serverSawCancel = deferred();
    const pages: number[] = [];
    const repo: UserRepository = {
      get: inner.get,
      paymentCard: inner.paymentCard,
      list: async (page) => {
        pages.push(pages.length + 1);
        if (pages.length === 2) await secondPage.promise;
        return inner.list(page);
      },
    };
    const c = await start(repo, (h) => ({
      ...h,
      ListUsers: (call) => {
        call.on('cancelled', () => serverSawCancel.resolve());
        h.ListUsers(call);
      },
    }));
    const stream = serverStreamCall(c, methods.listUsers, { pageSize: 1 });
    stream.on('error', () => {}); // the CANCELLED status is expected
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.cancel();
    await serverSawCancel.promise;
    secondPage.resolve(); // page 2 arrives after the cancel: its user must not be written, page 3 never read
    await flushMicrotasks();
    expect(pages).toEqual([1, 2]);
  });
});
