// SPDX-License-Identifier: Apache-2.0
// The demo's services in-process on port 0, order-service calling user-service directly with the authority its
// sidecar would route on: joins across the two, deadline and cancellation propagation, health Check/Watch.

import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { startOrderService } from '../../examples/services/order-service/server.js';
import { orderMethods } from '../../examples/services/order-service/types.js';
import { serverStreamCall, unaryCall } from '../../examples/services/shared/grpc-client.js';
import {
  healthServiceDefinition,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from '../../examples/services/shared/health.js';
import { methodOf } from '../../examples/services/shared/proto.js';
import type { RunningServer } from '../../examples/services/shared/server.js';
import { startUserService } from '../../examples/services/user-service/server.js';
import {
  userServiceDefinition,
  type GetUserRequest,
  type ListUsersRequest,
  type User,
} from '../../examples/services/user-service/types.js';
import { clientFor, collect, deferred, rejection, serve, type TestServer } from '../unit/examples/grpc-harness.js';

const orders = orderMethods();
const health = healthServiceDefinition();
const check = methodOf<HealthCheckRequest, HealthCheckResponse>(health, 'Check');
const watch = methodOf<HealthCheckRequest, HealthCheckResponse>(health, 'Watch');
const asMs = (d: grpc.Deadline): number => (d instanceof Date ? d.getTime() : d);

describe('order-service over user-service', () => {
  let users: RunningServer;
  let front: RunningServer;
  let client: grpc.Client;

  beforeAll(async () => {
    users = await startUserService();
    front = await startOrderService({ userServiceAddress: users.address, userServiceAuthority: 'user-service' });
    client = clientFor(front.address, 'order-service');
  });
  afterAll(async () => {
    client?.close();
    await front?.close(0);
    await users?.close(0);
  });

  it('answers GetOrder with the customer read from user-service', async () => {
    const order = await unaryCall(client, orders.getOrder, { id: 'o-1005' }, { deadline: Date.now() + 5000 });
    expect(order).toMatchObject({ id: 'o-1005', userId: 'u-4', customer: { id: 'u-4', name: 'Edsger Dijkstra' } });
  });

  it('streams ListOrders for everyone and for one user, every order with its customer', async () => {
    const all = await collect(serverStreamCall(client, orders.listOrders, {}));
    expect(all).toHaveLength(8);
    expect(all.every((o) => o.customer?.id === o.userId)).toBe(true);
    const mine = await collect(serverStreamCall(client, orders.listOrders, { userId: 'u-1' }));
    expect(mine.map((o) => o.id)).toEqual(['o-1001', 'o-1004']);
  });

  it('passes user-service NOT_FOUND and INVALID_ARGUMENT for the named user through ListOrders', async () => {
    const missing = await rejection(collect(serverStreamCall(client, orders.listOrders, { userId: 'u-77' })));
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
    expect(missing.details).toBe('user "u-77" not found');
    const malformed = await rejection(collect(serverStreamCall(client, orders.listOrders, { userId: 'bob' })));
    expect(malformed.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('answers health Check SERVING for the server and each service', async () => {
    const userHealth = clientFor(users.address);
    try {
      expect(await unaryCall(client, check, { service: '' })).toEqual({ status: 'SERVING' });
      expect(await unaryCall(client, check, { service: 'order.v1.OrderService' })).toEqual({ status: 'SERVING' });
      expect(await unaryCall(userHealth, check, { service: 'user.v1.UserService' })).toEqual({ status: 'SERVING' });
    } finally {
      userHealth.close();
    }
  });
});

describe('deadline and cancellation propagation to user-service', () => {
  /** What the stub user-service saw of each call it got. */
  interface Seen {
    method: string;
    authority: string;
    deadlineMs: number;
    cancelled: Promise<void>;
  }
  let stub: TestServer | undefined;
  let front: RunningServer | undefined;
  let client: grpc.Client | undefined;
  afterEach(async () => {
    client?.close();
    await front?.close(0);
    await stub?.close();
    stub = front = client = undefined;
  });

  /** A user-service that records each call and never answers, until the call is cancelled. */
  async function startHangingUserService(downstreamTimeoutMs: number) {
    const arrived: Seen[] = [];
    const next = { waiter: deferred<Seen>() };
    const record = (method: string, call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>) => {
      const cancelled = deferred();
      call.on('cancelled', () => cancelled.resolve());
      const seen = { method, authority: call.getHost(), deadlineMs: asMs(call.getDeadline()), cancelled: cancelled.promise };
      arrived.push(seen);
      next.waiter.resolve(seen);
      next.waiter = deferred<Seen>();
    };
    const impl: grpc.UntypedServiceImplementation = {
      GetUser: ((call: grpc.ServerUnaryCall<GetUserRequest, User>) => record('GetUser', call)) as grpc.handleUnaryCall<GetUserRequest, User>,
      ListUsers: ((call: grpc.ServerWritableStream<ListUsersRequest, User>) => record('ListUsers', call)) as grpc.handleServerStreamingCall<ListUsersRequest, User>,
    };
    stub = await serve([[userServiceDefinition(), impl]]);
    front = await startOrderService({ userServiceAddress: stub.address, downstreamTimeoutMs });
    client = clientFor(front.address);
    return { arrived, nextCall: () => next.waiter.promise };
  }

  it('gives GetUser the caller deadline, with user-service as authority, and cancels it when the deadline passes', async () => {
    const { nextCall } = await startHangingUserService(60_000);
    const callerDeadline = Date.now() + 300;
    const seenPromise = nextCall();
    const err = await rejection(unaryCall(client!, orders.getOrder, { id: 'o-1001' }, { deadline: callerDeadline }));
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    const seen = await seenPromise;
    expect(seen.method).toBe('GetUser');
    expect(seen.authority).toBe('user-service');
    // Rebuilt from grpc-timeout on arrival, so later by the transit time; far below the 60 s cap.
    expect(seen.deadlineMs).toBeGreaterThanOrEqual(callerDeadline - 1);
    expect(seen.deadlineMs).toBeLessThan(callerDeadline + 5000);
    await seen.cancelled;
  });

  it('gives ListUsers the caller deadline when streaming ListOrders', async () => {
    const { nextCall } = await startHangingUserService(60_000);
    const callerDeadline = Date.now() + 300;
    const seenPromise = nextCall();
    const err = await rejection(collect(serverStreamCall(client!, orders.listOrders, {}, { deadline: callerDeadline })));
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    const seen = await seenPromise;
    expect(seen.method).toBe('ListUsers');
    expect(seen.deadlineMs).toBeLessThan(callerDeadline + 5000);
    await seen.cancelled;
  });

  it('caps the downstream deadline when the caller sets none', async () => {
    const { nextCall } = await startHangingUserService(400);
    const before = Date.now();
    const seenPromise = nextCall();
    const err = await rejection(unaryCall(client!, orders.getOrder, { id: 'o-1001' }));
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(err.details).toContain('user-service GetUser');
    const seen = await seenPromise;
    expect(seen.deadlineMs).toBeGreaterThanOrEqual(before + 400 - 1);
    expect(seen.deadlineMs).toBeLessThan(before + 400 + 5000);
  });

  it('cancels the GetUser call when the caller cancels GetOrder', async () => {
    const { nextCall } = await startHangingUserService(60_000);
    const seenPromise = nextCall();
    const call = client!.makeUnaryRequest(
      orders.getOrder.path,
      orders.getOrder.requestSerialize,
      orders.getOrder.responseDeserialize,
      { id: 'o-1001' },
      () => {},
    );
    const seen = await seenPromise;
    call.cancel();
    await seen.cancelled; // would hang (and time the test out) without parent propagation
  });
});

describe('health Watch across a graceful stop', () => {
  it('streams SERVING, then NOT_SERVING when user-service closes, then ends', async () => {
    const users = await startUserService();
    const client = clientFor(users.address);
    try {
      const stream = serverStreamCall(client, watch, { service: 'user.v1.UserService' });
      const statuses = collect(stream);
      await new Promise((resolve) => stream.once('data', resolve));
      await users.close(1000);
      expect((await statuses).map((m) => m.status)).toEqual(['SERVING', 'NOT_SERVING']);
    } finally {
      client.close();
      await users.close(0);
    }
  });
});
