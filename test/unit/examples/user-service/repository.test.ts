// SPDX-License-Identifier: Apache-2.0
// The in-memory user repository: lookups, id ordering and page tokens.

import { describe, expect, it } from 'vitest';

import { createInMemoryUserRepository, SEED_PAYMENT_CARDS, SEED_USERS } from '../../../../examples/services/user-service/repository.js';

const user = (n: number) => ({ id: `u-${n}`, name: `User ${n}`, email: `user${n}@example.com` });

describe('in-memory user repository', () => {
  it('returns a seeded user by id and undefined for an unknown id', async () => {
    const repo = createInMemoryUserRepository();
    expect(await repo.get('u-1')).toEqual(SEED_USERS[0]);
    expect(await repo.get('u-999')).toBeUndefined();
  });

  it('hands out copies, so callers cannot change stored users', async () => {
    const repo = createInMemoryUserRepository([user(1)]);
    const first = await repo.get('u-1');
    first!.name = 'changed';
    expect((await repo.get('u-1'))?.name).toBe('User 1');
  });

  it('pages through every user in numeric id order, without a token on the last page', async () => {
    const repo = createInMemoryUserRepository([user(10), user(2), user(1), user(3), user(11)]);
    const first = await repo.list({ pageSize: 2 });
    expect(first.users.map((u) => u.id)).toEqual(['u-1', 'u-2']);
    const second = await repo.list({ pageSize: 2, pageToken: first.nextPageToken });
    expect(second.users.map((u) => u.id)).toEqual(['u-3', 'u-10']);
    const third = await repo.list({ pageSize: 2, pageToken: second.nextPageToken });
    expect(third.users.map((u) => u.id)).toEqual(['u-11']);
    expect(third.nextPageToken).toBeUndefined();
  });

  it('returns no token when the page ends exactly at the last user', async () => {
    const page = await createInMemoryUserRepository([user(1), user(2)]).list({ pageSize: 2 });
    expect(page.users).toHaveLength(2);
    expect(page.nextPageToken).toBeUndefined();
  });

  it('rejects a page size below 1 and a token it did not issue', async () => {
    const repo = createInMemoryUserRepository();
    await expect(repo.list({ pageSize: 0 })).rejects.toThrow(RangeError);
    await expect(repo.list({ pageSize: 2, pageToken: 'bogus' })).rejects.toThrow(/invalid page token/);
    const beyond = Buffer.from('offset:9999').toString('base64url');
    await expect(repo.list({ pageSize: 2, pageToken: beyond })).rejects.toThrow(/invalid page token/);
  });

  it("returns a seeded user's payment card as a copy, and none for the card-less u-12 or an unknown user", async () => {
    const repo = createInMemoryUserRepository();
    const card = await repo.paymentCard('u-1');
    expect(card).toEqual(SEED_PAYMENT_CARDS[0]);
    card!.last4 = '0000';
    expect((await repo.paymentCard('u-1'))?.last4).toBe(SEED_PAYMENT_CARDS[0]!.last4);
    expect(await repo.paymentCard('u-12')).toBeUndefined();
    expect(await repo.paymentCard('u-999')).toBeUndefined();
  });

  it('keeps a card only while its user exists', async () => {
    const repo = createInMemoryUserRepository([user(1)], [{ userId: 'u-2', brand: 'visa', last4: '4242' }]);
    expect(await repo.paymentCard('u-2')).toBeUndefined();
  });
});
