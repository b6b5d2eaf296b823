// SPDX-License-Identifier: Apache-2.0
// user-service storage: an in-memory, seeded user repository behind an async interface (as a database would be).
// Knows nothing about gRPC; the handler maps its results to statuses.

import type { PaymentCard, User } from './types.js';

/** One page of users in id order; `nextPageToken` is absent on the last page. */
export interface UserPage {
  users: User[];
  nextPageToken?: string;
}

/** Read access to users. Implementations must be safe to call concurrently. */
export interface UserRepository {
  /** The user with `id`, or undefined. */
  get(id: string): Promise<User | undefined>;
  /**
   * Up to `pageSize` users after the position `pageToken` names (start when absent), in id order.
   * @param page.pageSize 1 or more.
   * @param page.pageToken an opaque token from a previous page of this repository.
   * @throws RangeError on pageSize < 1 or a token this repository did not issue.
   */
  list(page: { pageSize: number; pageToken?: string | undefined }): Promise<UserPage>;
  /** The payment card on file for the user `userId`, or undefined (no such user, or no card). */
  paymentCard(userId: string): Promise<PaymentCard | undefined>;
}

/** The demo's users: u-1 … u-12. */
export const SEED_USERS: readonly User[] = Object.freeze(
  [
    'Ada Lovelace', 'Alan Turing', 'Grace Hopper', 'Edsger Dijkstra', 'Barbara Liskov', 'Donald Knuth',
    'Margaret Hamilton', 'Ken Thompson', 'Frances Allen', 'Tony Hoare', 'Radia Perlman', 'John Backus',
  ].map((name, i) => Object.freeze({
    id: `u-${i + 1}`,
    name,
    email: `${name.split(' ')[0]!.toLowerCase()}@example.com`,
  })),
);

/** The demo's payment cards: one per seeded user except u-12 (who has none on file). Made-up numbers. */
export const SEED_PAYMENT_CARDS: readonly PaymentCard[] = Object.freeze(
  SEED_USERS.slice(0, -1).map((user, i) => Object.freeze({
    userId: user.id,
    brand: ['visa', 'mastercard', 'amex'][i % 3]!,
    last4: String(4242 + i * 1111).slice(-4),
  })),
);

const numericId = (id: string): number => Number(id.slice(id.indexOf('-') + 1));

/**
 * An in-memory repository over a copy of `seed` (default SEED_USERS), ordered by numeric id (u-2 before u-10),
 * and of `cards` (default SEED_PAYMENT_CARDS). Page tokens are offsets, encoded so callers treat them as opaque.
 */
export function createInMemoryUserRepository(
  seed: readonly User[] = SEED_USERS,
  cards: readonly PaymentCard[] = SEED_PAYMENT_CARDS,
): UserRepository {
  const cardByUser = new Map(cards.map((c) => [c.userId, c]));
  const users = [...seed].sort((a, b) => numericId(a.id) - numericId(b.id));
  const byId = new Map(users.map((u) => [u.id, u]));
  const encode = (offset: number): string => Buffer.from(`offset:${offset}`).toString('base64url');
  const decode = (token: string): number => {
    const m = /^offset:(\d+)$/.exec(Buffer.from(token, 'base64url').toString());
    const offset = m ? Number(m[1]) : NaN;
    if (!Number.isSafeInteger(offset) || offset > users.length) throw new RangeError(`invalid page token "${token}"`);
    return offset;
  };
  return {
    async get(id) {
      const user = byId.get(id);
      return user && { ...user };
    },
    async list({ pageSize, pageToken }) {
      if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize must be >= 1, got ${pageSize}`);
      const start = pageToken === undefined ? 0 : decode(pageToken);
      const end = Math.min(start + pageSize, users.length);
      const page: UserPage = { users: users.slice(start, end).map((u) => ({ ...u })) };
      if (end < users.length) page.nextPageToken = encode(end);
      return page;
    },
    async paymentCard(userId) {
      const card = byId.has(userId) ? cardByUser.get(userId) : undefined;
      return card && { ...card };
    },
  };
}
