// SPDX-License-Identifier: Apache-2.0
// Admin route helpers: loopback-only mutations and how PUT /log-level reads the level.

import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { isLoopback, mutation } from '../../../src/admin/routes/guard.js';
import { requestedLevel } from '../../../src/admin/routes/log-level.js';

const req = (remoteAddress: string) => ({ socket: { remoteAddress }, url: '/x' }) as unknown as IncomingMessage;

describe('mutation guard', () => {
  it('recognises loopback addresses, IPv4-mapped included', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'].map(isLoopback)).toEqual([true, true, true, true]);
    expect(['10.0.0.1', '::ffff:10.0.0.1', 'fe80::1', undefined].map(isLoopback)).toEqual([false, false, false, false]);
  });

  it('refuses non-loopback clients with 403 unless remote mutations are allowed', async () => {
    const route = mutation(() => ({ status: 200, body: 'done' }), false);
    expect(await route(req('10.0.0.1'), '')).toMatchObject({ status: 403 });
    expect(await route(req('127.0.0.1'), '')).toEqual({ status: 200, body: 'done' });
    expect(await mutation(() => ({ status: 200, body: 'done' }), true)(req('10.0.0.1'), '')).toEqual({ status: 200, body: 'done' });
  });
});

describe('requestedLevel', () => {
  it('reads the query, a JSON body or a bare body', () => {
    expect(requestedLevel('/log-level?level=debug', '')).toBe('debug');
    expect(requestedLevel('/log-level', '{"level":"warn"}')).toBe('warn');
    expect(requestedLevel('/log-level', ' trace\n')).toBe('trace');
    expect(requestedLevel('/log-level', '')).toBeUndefined();
    expect(requestedLevel('/log-level', '{"level":1}')).toBeUndefined();
    expect(requestedLevel('/log-level', '{broken')).toBeUndefined();
  });
});
