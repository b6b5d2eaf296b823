// SPDX-License-Identifier: Apache-2.0
// order-service storage: an in-memory, seeded order repository. Orders hold a user id only; the customer details
// live in user-service and are joined in by the handler.

import type { Order } from './types.js';

/** An order as stored: no customer (that is user-service's data). */
export type StoredOrder = Omit<Order, 'customer'>;

/** Read access to orders. */
export interface OrderRepository {
  /** The order with `id`, or undefined. */
  get(id: string): Promise<StoredOrder | undefined>;
  /** Orders in id order; only those of `userId` when given. */
  list(filter?: { userId?: string | undefined }): Promise<StoredOrder[]>;
}

const order = (id: string, userId: string, items: Array<[sku: string, quantity: number, unitPriceCents: number]>): StoredOrder => ({
  id,
  userId,
  items: items.map(([sku, quantity, unitPriceCents]) => ({ sku, quantity, unitPriceCents })),
  totalCents: items.reduce((sum, [, quantity, unitPriceCents]) => sum + quantity * unitPriceCents, 0),
});

/** The demo's orders, o-1001 … o-1008, placed by users u-1 … u-5 (all seeded in user-service). */
export const SEED_ORDERS: readonly StoredOrder[] = Object.freeze([
  order('o-1001', 'u-1', [['analytical-engine-manual', 1, 4200]]),
  order('o-1002', 'u-2', [['enigma-rotor', 3, 1999], ['paper-tape', 10, 150]]),
  order('o-1003', 'u-3', [['cobol-handbook', 1, 3500]]),
  order('o-1004', 'u-1', [['punch-cards', 500, 2]]),
  order('o-1005', 'u-4', [['semaphore', 2, 999]]),
  order('o-1006', 'u-5', [['clu-compiler', 1, 12_000], ['abstract-data-types', 1, 4500]]),
  order('o-1007', 'u-3', [['moth-in-a-frame', 1, 100]]),
  order('o-1008', 'u-2', [['turing-machine-tape', 1, 99_999]]),
]);

const numericId = (id: string): number => Number(id.slice(id.indexOf('-') + 1));
const copy = (o: StoredOrder): StoredOrder => ({ ...o, items: o.items.map((i) => ({ ...i })) });

/** An in-memory repository over a copy of `seed` (default SEED_ORDERS). */
export function createInMemoryOrderRepository(seed: readonly StoredOrder[] = SEED_ORDERS): OrderRepository {
  const orders = [...seed].sort((a, b) => numericId(a.id) - numericId(b.id));
  const byId = new Map(orders.map((o) => [o.id, o]));
  return {
    async get(id) {
      const found = byId.get(id);
      return found && copy(found);
    },
    async list(filter = {}) {
      return orders.filter((o) => filter.userId === undefined || o.userId === filter.userId).map(copy);
    },
  };
}
