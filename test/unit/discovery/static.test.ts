// SPDX-License-Identifier: Apache-2.0
// The static resolver: endpoints from config, delivered once and asynchronously; unknown backends as errors.
import { describe, expect, it } from 'vitest';
import { bootstrapSchema } from '../../../src/config/schema.js';
import type { Resolution } from '../../../src/discovery/resolver.js';
import { UnknownBackendError, createStaticResolver } from '../../../src/discovery/static.js';

const { upstreams } = bootstrapSchema.parse({
  service: { name: 'web' },
  outbound: {},
  upstreams: {
    orders: { endpoints: ['10.0.0.1:9000', { address: '10.0.0.2:9000', weight: 3 }, '[::1]:9001'] },
    users: {},
  },
});

function next(resolver: ReturnType<typeof createStaticResolver>, backend: string): Promise<Resolution> {
  return new Promise((resolve) => resolver.watch(backend, resolve));
}

describe('createStaticResolver', () => {
  it('delivers the configured endpoints with their weights', async () => {
    const r = await next(createStaticResolver(upstreams), 'orders');
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.endpoints.map((e) => [e.address, e.weight, e.meta])).toEqual([
        ['10.0.0.1:9000', 1, {}],
        ['10.0.0.2:9000', 3, {}],
        ['[::1]:9001', 1, {}],
      ]);
    }
  });

  it('never calls back synchronously from watch()', async () => {
    const resolver = createStaticResolver(upstreams);
    const got: Resolution[] = [];
    resolver.watch('orders', (r) => got.push(r));
    expect(got).toHaveLength(0);
    await Promise.resolve();
    expect(got).toHaveLength(1);
  });

  it('reports a backend without static endpoints as unknown', async () => {
    const resolver = createStaticResolver(upstreams);
    for (const name of ['users', 'nope']) {
      const r = await next(resolver, name);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error).toBeInstanceOf(UnknownBackendError);
        expect(r.error.message).toBe(`unknown backend "${name}"`);
      }
    }
    expect([resolver.has('orders'), resolver.has('users')]).toEqual([true, false]);
  });

  it('delivers nothing after close()', async () => {
    const resolver = createStaticResolver(upstreams);
    const got: Resolution[] = [];
    resolver.watch('orders', (r) => got.push(r)).close();
    await Promise.resolve();
    await new Promise<void>((resolve) => resolver.watch('orders', () => resolve()));
    expect(got).toHaveLength(0);
  });
});
