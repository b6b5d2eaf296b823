// SPDX-License-Identifier: Apache-2.0
// order-service's client for user-service. It dials the local sidecar's OUTBOUND listener, not user-service: the
// channel's default authority is the backend name, and the sidecar routes by that :authority host.

import * as grpc from '@grpc/grpc-js';

import { serverStreamCall, unaryCall } from '../shared/grpc-client.js';
import { userMethods, type PaymentCard, type User } from '../user-service/types.js';

/** How one downstream call is bounded and tied to the inbound call that caused it. */
export interface DownstreamScope {
  /** Absolute deadline (epoch ms or Date); see downstreamDeadline(). */
  deadline: grpc.Deadline;
  /** The inbound call: its cancellation cancels the downstream call (grpc-js parent propagation). */
  parent?: grpc.CallOptions['parent'];
}

/** What order-service needs from user-service. */
export interface UserDirectory {
  /** UserService.GetUser; rejects with the downstream grpc.ServiceError. */
  getUser(id: string, scope: DownstreamScope): Promise<User>;
  /** UserService.ListUsers; iteration throws the downstream grpc.ServiceError. */
  listUsers(scope: DownstreamScope): AsyncIterable<User>;
  /** UserService.GetPaymentCard; rejects with the downstream grpc.ServiceError. */
  getPaymentCard(userId: string, scope: DownstreamScope): Promise<PaymentCard>;
}

/** Options of createUserClient. */
export interface UserClientOptions {
  /** The local sidecar's outbound listener (env USER_SERVICE_ADDR), e.g. `127.0.0.1:4140`. */
  address: string;
  /** `:authority` of every call: the backend name the sidecar routes on. Default `user-service`. */
  authority?: string;
}

/** A UserDirectory over gRPC, plus close() for the channel. */
export interface UserClient extends UserDirectory {
  close(): void;
}

/**
 * The deadline for a downstream call made while serving a call whose deadline is `parentDeadline`: the earlier of
 * that and `nowMs + maxMs`. Spending the caller's whole budget downstream is right for a single sequential hop; the
 * cap keeps a caller without a deadline (Infinity) from pinning user-service calls forever.
 * @param maxMs cap, milliseconds; range 1-600000.
 * @returns epoch milliseconds.
 */
export function downstreamDeadline(parentDeadline: grpc.Deadline, nowMs: number, maxMs: number): number {
  const parentMs = parentDeadline instanceof Date ? parentDeadline.getTime() : parentDeadline;
  return Math.min(parentMs, nowMs + maxMs);
}

/** Creates the user-service client; the channel connects lazily on the first call. */
export function createUserClient({ address, authority = 'user-service' }: UserClientOptions): UserClient {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    'grpc.default_authority': authority,
  });
  const methods = userMethods();
  const callOptions = (scope: DownstreamScope): grpc.CallOptions => ({
    deadline: scope.deadline,
    ...(scope.parent && { parent: scope.parent, propagate_flags: grpc.propagate.DEFAULTS }),
  });
  return {
    getUser: (id, scope) => unaryCall(client, methods.getUser, { id }, callOptions(scope)),
    listUsers: (scope) => serverStreamCall(client, methods.listUsers, {}, callOptions(scope)),
    getPaymentCard: (userId, scope) => unaryCall(client, methods.getPaymentCard, { userId }, callOptions(scope)),
    close: () => client.close(),
  };
}
