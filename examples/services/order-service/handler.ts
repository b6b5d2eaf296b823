// SPDX-License-Identifier: Apache-2.0
// order-service gRPC handlers: read orders, join in customers (and payment cards) from user-service (through the
// sidecar) within the caller's deadline, and map downstream failures to statuses that make sense to
// order-service's own callers.

import * as grpc from '@grpc/grpc-js';

import { isServiceError } from '../shared/grpc-client.js';
import type { Logger } from '../shared/logger.js';
import { silentLogger } from '../shared/logger.js';
import { writeMessage } from '../shared/stream-writer.js';
import type { PaymentCard, User } from '../user-service/types.js';
import type { OrderRepository, StoredOrder } from './repository.js';
import type { Customer, Order, OrderServiceHandlers } from './types.js';
import { downstreamDeadline, type DownstreamScope, type UserDirectory } from './user-client.js';

/** A well-formed order id: `o-` then a positive integer of at most 9 digits. */
export const ORDER_ID_PATTERN = /^o-[1-9]\d{0,8}$/;

/** Why `id` is not a valid order id, or undefined when it is. */
export function orderIdProblem(id: string): string | undefined {
  if (id === '') return 'id is required';
  if (!ORDER_ID_PATTERN.test(id)) return `id "${id.slice(0, 64)}" is malformed: expected o-<number>, e.g. o-1001`;
  return undefined;
}

// Downstream statuses that describe the call rather than the data: the caller sees the same condition (and may
// retry UNAVAILABLE). PERMISSION_DENIED is a refusal (order-service may not do what this call needs), not a fault,
// so it stays one. Every other downstream status is user-service's business; to order-service's caller it is an
// internal failure (a downstream NOT_FOUND must not read as "your order was not found").
const PASS_THROUGH = new Set<grpc.status>([
  grpc.status.CANCELLED,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.UNAVAILABLE,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.PERMISSION_DENIED,
]);

/** The trailer a meshlet sidecar names its own failures with (`ERR_*`); passed on with a passed-through status. */
const MESHLET_ERROR = 'x-meshlet-error';

/**
 * The status order-service answers with when `what` (a user-service call) failed with `err`. A passed-through
 * status keeps the downstream `x-meshlet-error` trailer, so the caller can tell a sidecar's refusal (e.g.
 * ERR_AUTHZ_DENIED) from user-service's own.
 */
export function statusFromDownstream(err: unknown, what: string, logger: Logger): grpc.StatusObject {
  const metadata = new grpc.Metadata();
  if (isServiceError(err)) {
    const details = `user-service ${what}: ${grpc.status[err.code]}: ${err.details}`;
    if (PASS_THROUGH.has(err.code)) {
      const meshletError = err.metadata?.get(MESHLET_ERROR)[0];
      if (typeof meshletError === 'string') metadata.set(MESHLET_ERROR, meshletError);
      return { code: err.code, details, metadata };
    }
    logger.warn({ code: grpc.status[err.code], details: err.details }, `user-service ${what} failed`);
    return { code: grpc.status.INTERNAL, details, metadata };
  }
  logger.error({ err }, `user-service ${what} failed`);
  return { code: grpc.status.INTERNAL, details: `user-service ${what} failed`, metadata };
}

const toCustomer = ({ id, name, email }: User): Customer => ({ id, name, email });
const withCustomer = (order: StoredOrder, user: User | undefined): Order =>
  user === undefined ? { ...order } : { ...order, customer: toCustomer(user) };

/** Dependencies and limits of the handlers. */
export interface OrderHandlerOptions {
  orders: OrderRepository;
  users: UserDirectory;
  /** Cap on the deadline of each user-service call. Default 2000 ms; range 1-600000. */
  downstreamTimeoutMs?: number;
  /** Default: silent. */
  logger?: Logger;
  /** Clock, epoch ms. Default Date.now. */
  now?: () => number;
}

/** The OrderService implementation to register on a grpc.Server. */
export function createOrderHandlers(options: OrderHandlerOptions): OrderServiceHandlers {
  const { orders, users, downstreamTimeoutMs = 2000, logger = silentLogger(), now = Date.now } = options;
  const scopeOf = (call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): DownstreamScope => ({
    deadline: downstreamDeadline(call.getDeadline(), now(), downstreamTimeoutMs),
    parent: call,
  });

  /**
   * The part every by-id call shares: INVALID_ARGUMENT for a bad id, NOT_FOUND for a missing order, INTERNAL when
   * the store fails; `then` answers for an order that exists.
   */
  const withOrder = (
    method: string,
    id: string,
    callback: (err: Partial<grpc.StatusObject> | null) => void,
    then: (order: Order) => Promise<void>,
  ): void => {
    const problem = orderIdProblem(id);
    if (problem !== undefined) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: problem });
      return;
    }
    void (async () => {
      const order = await orders.get(id);
      if (order === undefined) {
        callback({ code: grpc.status.NOT_FOUND, details: `order "${id}" not found` });
        return;
      }
      await then(order);
    })().catch((err: unknown) => {
      logger.error({ err }, `${method} failed`);
      callback({ code: grpc.status.INTERNAL, details: 'reading the order store failed' });
    });
  };

  return {
    GetOrder(call, callback) {
      withOrder('GetOrder', call.request.id, callback, async (order) => {
        let user: User | undefined;
        try {
          user = await users.getUser(order.userId, scopeOf(call));
        } catch (err) {
          // The order outlived its user: answer with the order, customer unset (as order.proto documents).
          if (!(isServiceError(err) && err.code === grpc.status.NOT_FOUND)) {
            callback(statusFromDownstream(err, 'GetUser', logger));
            return;
          }
        }
        callback(null, withCustomer(order, user));
      });
    },

    GetOrderPayment(call, callback) {
      withOrder('GetOrderPayment', call.request.id, callback, async (order) => {
        let card: PaymentCard;
        try {
          card = await users.getPaymentCard(order.userId, scopeOf(call));
        } catch (err) {
          callback(statusFromDownstream(err, 'GetPaymentCard', logger));
          return;
        }
        callback(null, { orderId: order.id, totalCents: order.totalCents, cardBrand: card.brand, cardLast4: card.last4 });
      });
    },

    ListOrders(call) {
      const { userId } = call.request;
      if (userId === '') {
        call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'user_id must not be empty when set' });
        return;
      }
      const fail = (status: Partial<grpc.StatusObject>): void => {
        call.emit('error', status);
      };
      void (async () => {
        const customers = new Map<string, User>();
        if (userId !== undefined) {
          try {
            const user = await users.getUser(userId, scopeOf(call));
            customers.set(user.id, user);
          } catch (err) {
            // The caller named this user, so user-service's verdict on it is the caller's business.
            if (isServiceError(err) && (err.code === grpc.status.NOT_FOUND || err.code === grpc.status.INVALID_ARGUMENT)) {
              fail({ code: err.code, details: err.details });
            } else {
              fail(statusFromDownstream(err, 'GetUser', logger));
            }
            return;
          }
        } else {
          // One stream for all customers. Bounded by the number of users, which is fine for the demo; a real
          // service would page orders and look up only the users on each page.
          try {
            for await (const user of users.listUsers(scopeOf(call))) customers.set(user.id, user);
          } catch (err) {
            fail(statusFromDownstream(err, 'ListUsers', logger));
            return;
          }
        }
        for (const order of await orders.list({ userId })) {
          if (!(await writeMessage(call, withCustomer(order, customers.get(order.userId))))) return;
        }
        call.end();
      })().catch((err: unknown) => {
        logger.error({ err }, 'ListOrders failed');
        fail({ code: grpc.status.INTERNAL, details: 'reading the order store failed' });
      });
    },
  };
}
