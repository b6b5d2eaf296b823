// SPDX-License-Identifier: Apache-2.0
// TypeScript mirrors of order.proto messages (proto-loader with lowerCamelCase fields) and the loaded service
// definition. Keep in step with order.proto.

import type * as grpc from '@grpc/grpc-js';

import { loadService, methodOf } from '../shared/proto.js';

/** Path segments of order.proto under the repository root. */
export const ORDER_PROTO = ['examples', 'services', 'order-service', 'order.proto'] as const;
/** Fully-qualified service name, also the health service key. */
export const ORDER_SERVICE_NAME = 'order.v1.OrderService';

/** `order.v1.LineItem`. */
export interface LineItem {
  sku: string;
  quantity: number;
  unitPriceCents: number;
}
/** `order.v1.Customer`. */
export interface Customer {
  id: string;
  name: string;
  email: string;
}
/** `order.v1.Order`; `customer` is null/undefined when unset. */
export interface Order {
  id: string;
  userId: string;
  items: LineItem[];
  totalCents: number;
  customer?: Customer | null | undefined;
}
/** `order.v1.GetOrderRequest`. */
export interface GetOrderRequest {
  id: string;
}
/** `order.v1.ListOrdersRequest`; `userId` is undefined when absent (proto3 `optional`). */
export interface ListOrdersRequest {
  userId?: string | undefined;
}

/** `order.v1.OrderPayment`. */
export interface OrderPayment {
  orderId: string;
  totalCents: number;
  cardBrand: string;
  cardLast4: string;
}

/** The handler shape grpc-js calls for OrderService. */
export type OrderServiceHandlers = {
  GetOrder: grpc.handleUnaryCall<GetOrderRequest, Order>;
  ListOrders: grpc.handleServerStreamingCall<ListOrdersRequest, Order>;
  GetOrderPayment: grpc.handleUnaryCall<GetOrderRequest, OrderPayment>;
};

/** The loaded `order.v1.OrderService` definition. */
export function orderServiceDefinition(): grpc.ServiceDefinition {
  return loadService(ORDER_PROTO, ORDER_SERVICE_NAME);
}

/** Typed method definitions, for clients. */
export function orderMethods(): {
  getOrder: grpc.MethodDefinition<GetOrderRequest, Order>;
  listOrders: grpc.MethodDefinition<ListOrdersRequest, Order>;
  getOrderPayment: grpc.MethodDefinition<GetOrderRequest, OrderPayment>;
} {
  const def = orderServiceDefinition();
  return {
    getOrder: methodOf<GetOrderRequest, Order>(def, 'GetOrder'),
    listOrders: methodOf<ListOrdersRequest, Order>(def, 'ListOrders'),
    getOrderPayment: methodOf<GetOrderRequest, OrderPayment>(def, 'GetOrderPayment'),
  };
}
