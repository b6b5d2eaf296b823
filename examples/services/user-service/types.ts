// SPDX-License-Identifier: Apache-2.0
// TypeScript mirrors of user.proto messages (proto-loader with lowerCamelCase fields) and the loaded service
// definition. Keep in step with user.proto.

import type * as grpc from '@grpc/grpc-js';

import { loadService, methodOf } from '../shared/proto.js';

/** Path segments of user.proto under the repository root. */
export const USER_PROTO = ['examples', 'services', 'user-service', 'user.proto'] as const;
/** Fully-qualified service name, also the health service key. */
export const USER_SERVICE_NAME = 'user.v1.UserService';

/** `user.v1.User`. */
export interface User {
  id: string;
  name: string;
  email: string;
}
/** `user.v1.GetUserRequest`. */
export interface GetUserRequest {
  id: string;
}
/** `user.v1.ListUsersRequest`; `pageSize` is undefined when the field is absent (proto3 `optional`). */
export interface ListUsersRequest {
  pageSize?: number | undefined;
}

/** `user.v1.GetPaymentCardRequest`. */
export interface GetPaymentCardRequest {
  userId: string;
}
/** `user.v1.PaymentCard`. */
export interface PaymentCard {
  userId: string;
  brand: string;
  last4: string;
}

/** The handler shape grpc-js calls for UserService. */
export type UserServiceHandlers = {
  GetUser: grpc.handleUnaryCall<GetUserRequest, User>;
  ListUsers: grpc.handleServerStreamingCall<ListUsersRequest, User>;
  GetPaymentCard: grpc.handleUnaryCall<GetPaymentCardRequest, PaymentCard>;
};

/** The loaded `user.v1.UserService` definition. */
export function userServiceDefinition(): grpc.ServiceDefinition {
  return loadService(USER_PROTO, USER_SERVICE_NAME);
}

/** Typed method definitions, for clients. */
export function userMethods(): {
  getUser: grpc.MethodDefinition<GetUserRequest, User>;
  listUsers: grpc.MethodDefinition<ListUsersRequest, User>;
  getPaymentCard: grpc.MethodDefinition<GetPaymentCardRequest, PaymentCard>;
} {
  const def = userServiceDefinition();
  return {
    getUser: methodOf<GetUserRequest, User>(def, 'GetUser'),
    listUsers: methodOf<ListUsersRequest, User>(def, 'ListUsers'),
    getPaymentCard: methodOf<GetPaymentCardRequest, PaymentCard>(def, 'GetPaymentCard'),
  };
}
