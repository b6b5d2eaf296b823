// SPDX-License-Identifier: Apache-2.0
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, ProxyError, toProxyError } from '../../src/errors.js';
import { Status } from '../../src/grpc/status.js';

describe('error catalogue', () => {
  it('documents every ERR_* code in docs/errors.md with its status', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    for (const [code, status] of Object.entries(ERRORS)) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${code}\``));
      expect(row, `${code} is missing from docs/errors.md`).toBeDefined();
      if (code !== 'ERR_UPSTREAM_RESET') expect(row).toContain(`| ${Status[status]} |`);
    }
  });
});

describe('toProxyError', () => {
  it('returns a ProxyError found anywhere in the cause chain', () => {
    const inner = new ProxyError('ERR_NO_ENDPOINTS', 'none');
    expect(toProxyError(new Error('outer', { cause: new Error('mid', { cause: inner }) }))).toBe(inner);
  });

  it('maps connect errnos to ERR_UPSTREAM_CONNECT, marked never-reached-app', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(toProxyError(err)).toMatchObject({ code: 'ERR_UPSTREAM_CONNECT', grpcStatus: Status.UNAVAILABLE, neverReachedApp: true });
  });

  it('maps a reset connection to ERR_UPSTREAM_CONNECTION_LOST, not retryable', () => {
    const err = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(toProxyError(err)).toMatchObject({ code: 'ERR_UPSTREAM_CONNECTION_LOST', neverReachedApp: false });
  });

  it('survives cause cycles and turns unknown errors into ERR_INTERNAL', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(toProxyError(a)).toMatchObject({ code: 'ERR_INTERNAL', grpcStatus: Status.INTERNAL });
    expect(toProxyError('a string')).toMatchObject({ code: 'ERR_INTERNAL' });
  });
});
