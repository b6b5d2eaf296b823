// SPDX-License-Identifier: Apache-2.0
// order-service handlers behind a real grpc-js server on port 0, with a fake user directory: joins, the deadline
// handed downstream, and how user-service failures become order-service statuses.

import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';

import { createOrderHandlers } from '../../../../examples/services/order-service/handler.js';
import { createInMemoryOrderRepository, SEED_ORDERS } from '../../../../examples/services/order-service/repository.js';
import { orderMethods, orderServiceDefinition } from '../../../../examples/services/order-service/types.js';
import {
  downstreamDeadline,
  type DownstreamScope,
  type UserDirectory,
} from '../../../../examples/services/order-service/user-client.js';
import { serverStreamCall, unaryCall } from '../../../../examples/services/shared/grpc-client.js';
import { SEED_PAYMENT_CARDS, SEED_USERS } from '../../../../examples/services/user-service/repository.js';
import type { User } from '../../../../examples/services/user-service/types.js';
import { clientFor, collect, rejection, serve, type TestServer } from '../grpc-harness.js';

const NOW = 1_700_000_000_000;
const CAP_MS = 2000;

function statusError(code: grpc.status, details: string, meshletError?: string): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (meshletError !== undefined) metadata.set('x-meshlet-error', meshletError);
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata });
}

/**
 * A user directory over SEED_USERS and SEED_PAYMENT_CARDS that records every scope it was called with; `fail` makes
 * every call reject.
 */
function fakeUsers(fail?: grpc.ServiceError) {
  const scopes: Array<{ method: string; arg?: string; scope: DownstreamScope }> = [];
  const users: UserDirectory = {
    async getUser(id, scope) {
      scopes.push({ method: 'GetUser', arg: id, scope });
      if (fail) throw fail;
      const user = SEED_USERS.find((u) => u.id === id);
      if (!user) throw statusError(grpc.status.NOT_FOUND, `user "${id}" not found`);
      return user;
    },
    listUsers(scope) {
      scopes.push({ method: 'ListUsers', scope });
      return (async function* (): AsyncGenerator<User> {
        if (fail) throw fail;
        yield* SEED_USERS;
      })();
    },
    async getPaymentCard(userId, scope) {
      scopes.push({ method: 'GetPaymentCard', arg: userId, scope });
      if (fail) throw fail;
      const card = SEED_PAYMENT_CARDS.find((c) => c.userId === userId);
      if (!card) throw statusError(grpc.status.NOT_FOUND, `no payment card on file for user "${userId}"`);
      return card;
    },
  };
  return { users, scopes };
}

let server: TestServer | undefined;
let client: grpc.Client | undefined;
afterEach(async () => {
  client?.close();
  await server?.close();
  server = client = undefined;
});

async function start(users: UserDirectory, now: () => number = () => NOW, capMs = CAP_MS): Promise<grpc.Client> {
  const handlers = createOrderHandlers({ orders: createInMemoryOrderRepository(), users, downstreamTimeoutMs: capMs, now });
  server = await serve([[orderServiceDefinition(), handlers]]);
  client = clientFor(server.address);
  return client;
}

const methods = orderMethods();
const asMs = (d: grpc.Deadline): number => (d instanceof Date ? d.getTime() : d);

describe('downstreamDeadline', () => {
  it('keeps the caller deadline when it is sooner than the cap', () => {
    expect(downstreamDeadline(NOW + 500, NOW, CAP_MS)).toBe(NOW + 500);
    expect(downstreamDeadline(new Date(NOW + 500), NOW, CAP_MS)).toBe(NOW + 500);
  });

  it('caps a distant or absent (Infinity) caller deadline at now + maxMs', () => {
    expect(downstreamDeadline(NOW + 60_000, NOW, CAP_MS)).toBe(NOW + CAP_MS);
    expect(downstreamDeadline(Infinity, NOW, CAP_MS)).toBe(NOW + CAP_MS);
  });
});

describe('OrderService.GetOrder', () => {
  it('returns the order with its customer from user-service', async () => {
    const { users, scopes } = fakeUsers();
    const order = await unaryCall(await start(users), methods.getOrder, { id: 'o-1002' });
    expect(order).toMatchObject({
      id: 'o-1002',
      userId: 'u-2',
      totalCents: 3 * 1999 + 10 * 150,
      customer: { id: 'u-2', name: 'Alan Turing', email: 'alan@example.com' },
    });
    expect(order.items).toEqual([
      { sku: 'enigma-rotor', quantity: 3, unitPriceCents: 1999 },
      { sku: 'paper-tape', quantity: 10, unitPriceCents: 150 },
    ]);
    expect(scopes.map((s) => [s.method, s.arg])).toEqual([['GetUser', 'u-2']]);
  });

  it('calls user-service with the cap as deadline when the caller set none, tied to the inbound call', async () => {
    const { users, scopes } = fakeUsers();
    await unaryCall(await start(users), methods.getOrder, { id: 'o-1001' });
    expect(asMs(scopes[0]!.scope.deadline)).toBe(NOW + CAP_MS);
    expect(scopes[0]!.scope.parent).toBeDefined();
  });

  it('hands the caller deadline downstream when it is sooner than the cap', async () => {
    const { users, scopes } = fakeUsers();
    // Real clock here: the server rebuilds the caller deadline from grpc-timeout on arrival, so it comes out
    // later by the loopback transit time. A cap of 60 s keeps "passed through" and "capped" far apart.
    const c = await start(users, Date.now, 60_000);
    const callerDeadline = Date.now() + 500;
    await unaryCall(c, methods.getOrder, { id: 'o-1001' }, { deadline: callerDeadline });
    const seen = asMs(scopes[0]!.scope.deadline);
    expect(seen).toBeGreaterThanOrEqual(callerDeadline - 1);
    expect(seen).toBeLessThan(callerDeadline + 5_000);
  });

  it.each([
    ['', 'id is required'],
    ['1001', 'malformed'],
    ['u-1', 'malformed'],
  ])('answers INVALID_ARGUMENT for id %j without calling user-service', async (id, message) => {
    const { users, scopes } = fakeUsers();
    const err = await rejection(unaryCall(await start(users), methods.getOrder, { id }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toContain(message);
    expect(scopes).toHaveLength(0);
  });

  it('answers NOT_FOUND for an unknown order without calling user-service', async () => {
    const { users, scopes } = fakeUsers();
    const err = await rejection(unaryCall(await start(users), methods.getOrder, { id: 'o-9' }));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toBe('order "o-9" not found');
    expect(scopes).toHaveLength(0);
  });

  it.each([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.RESOURCE_EXHAUSTED, grpc.status.PERMISSION_DENIED])(
    'passes downstream status %s through, saying it came from user-service',
    async (code) => {
      const { users } = fakeUsers(statusError(code, 'no healthy endpoints'));
      const err = await rejection(unaryCall(await start(users), methods.getOrder, { id: 'o-1001' }));
      expect(err.code).toBe(code);
      expect(err.details).toBe(`user-service GetUser: ${grpc.status[code]}: no healthy endpoints`);
    },
  );

  it.each([grpc.status.UNAUTHENTICATED, grpc.status.INVALID_ARGUMENT, grpc.status.INTERNAL])(
    'turns downstream status %s into INTERNAL',
    async (code) => {
      const { users } = fakeUsers(statusError(code, 'nope'));
      const err = await rejection(unaryCall(await start(users), methods.getOrder, { id: 'o-1001' }));
      expect(err.code).toBe(grpc.status.INTERNAL);
      expect(err.details).toContain(`user-service GetUser: ${grpc.status[code]}`);
    },
  );

  it('returns the order without a customer when user-service no longer knows the user', async () => {
    const { users } = fakeUsers(statusError(grpc.status.NOT_FOUND, 'user "u-1" not found'));
    const order = await unaryCall(await start(users), methods.getOrder, { id: 'o-1001' });
    expect(order.id).toBe('o-1001');
    expect(order.customer ?? undefined).toBeUndefined();
  });
});

describe('OrderService.GetOrderPayment', () => {
  it("returns the order's total with the card of its user, read from user-service within the cap", async () => {
    const { users, scopes } = fakeUsers();
    const payment = await unaryCall(await start(users), methods.getOrderPayment, { id: 'o-1002' });
    const card = SEED_PAYMENT_CARDS.find((c) => c.userId === 'u-2')!;
    expect(payment).toEqual({ orderId: 'o-1002', totalCents: 3 * 1999 + 10 * 150, cardBrand: card.brand, cardLast4: card.last4 });
    expect(scopes.map((s) => [s.method, s.arg])).toEqual([['GetPaymentCard', 'u-2']]);
    expect(asMs(scopes[0]!.scope.deadline)).toBe(NOW + CAP_MS);
  });

  it('answers NOT_FOUND for an unknown order and INVALID_ARGUMENT for a malformed id, without calling user-service', async () => {
    const { users, scopes } = fakeUsers();
    const c = await start(users);
    expect((await rejection(unaryCall(c, methods.getOrderPayment, { id: 'o-404' }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await rejection(unaryCall(c, methods.getOrderPayment, { id: 'x' }))).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(scopes).toHaveLength(0);
  });

  it("passes a sidecar's PERMISSION_DENIED through with its x-meshlet-error code and message", async () => {
    const { users } = fakeUsers(statusError(grpc.status.PERMISSION_DENIED, 'meshlet authz: permission denied', 'ERR_AUTHZ_DENIED'));
    const err = await rejection(unaryCall(await start(users), methods.getOrderPayment, { id: 'o-1001' }));
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toBe('user-service GetPaymentCard: PERMISSION_DENIED: meshlet authz: permission denied');
    expect(err.metadata.get('x-meshlet-error')).toEqual(['ERR_AUTHZ_DENIED']);
  });

  it('turns a downstream NOT_FOUND (no card on file) into INTERNAL, without an x-meshlet-error of its own', async () => {
    const { users } = fakeUsers(statusError(grpc.status.NOT_FOUND, 'no payment card on file for user "u-1"'));
    const err = await rejection(unaryCall(await start(users), methods.getOrderPayment, { id: 'o-1001' }));
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(err.metadata.get('x-meshlet-error')).toEqual([]);
  });
});

describe('OrderService.ListOrders', () => {
  it('streams every order with its customer, reading customers with one ListUsers call', async () => {
    const { users, scopes } = fakeUsers();
    const orders = await collect(serverStreamCall(await start(users), methods.listOrders, {}));
    expect(orders.map((o) => o.id)).toEqual(SEED_ORDERS.map((o) => o.id));
    for (const o of orders) expect(o.customer?.id).toBe(o.userId);
    expect(scopes.map((s) => s.method)).toEqual(['ListUsers']);
    expect(asMs(scopes[0]!.scope.deadline)).toBe(NOW + CAP_MS);
  });

  it("streams only the named user's orders, after one GetUser call", async () => {
    const { users, scopes } = fakeUsers();
    const orders = await collect(serverStreamCall(await start(users), methods.listOrders, { userId: 'u-3' }));
    expect(orders.map((o) => o.id)).toEqual(['o-1003', 'o-1007']);
    expect(orders.every((o) => o.customer?.name === 'Grace Hopper')).toBe(true);
    expect(scopes.map((s) => [s.method, s.arg])).toEqual([['GetUser', 'u-3']]);
  });

  it('answers NOT_FOUND when the named user does not exist', async () => {
    const { users } = fakeUsers();
    const err = await rejection(collect(serverStreamCall(await start(users), methods.listOrders, { userId: 'u-99' })));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toBe('user "u-99" not found');
  });

  it('answers INVALID_ARGUMENT for an empty user_id without calling user-service', async () => {
    const { users, scopes } = fakeUsers();
    const err = await rejection(collect(serverStreamCall(await start(users), methods.listOrders, { userId: '' })));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(scopes).toHaveLength(0);
  });

  it('ends with the downstream DEADLINE_EXCEEDED when ListUsers times out', async () => {
    const { users } = fakeUsers(statusError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded'));
    const err = await rejection(collect(serverStreamCall(await start(users), methods.listOrders, {})));
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(err.details).toContain('user-service ListUsers');
  });
});
