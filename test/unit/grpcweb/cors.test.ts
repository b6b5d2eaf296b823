// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { originAllowed, preflightHeaders, responseCorsHeaders, type CorsPolicy } from '../../../src/grpcweb/cors.js';

const policy: CorsPolicy = {
  allowedOrigins: ['http://127.0.0.1:7190', 'https://*.example.com'],
  allowedHeaders: ['x-tenant'],
  exposedHeaders: ['x-request-cost'],
  maxAgeSeconds: 300,
};

describe('originAllowed', () => {
  it.each([
    ['http://127.0.0.1:7190', true],
    ['http://127.0.0.1:7191', false],
    ['https://127.0.0.1:7190', false],
    ['https://app.example.com', true],
    ['https://a.b.example.com', true],
    ['https://APP.Example.com', true],
    ['https://example.com', false],
    ['http://app.example.com', false],
    ['https://evil-example.com', false],
    ['https://app.example.com:8443', false],
    ['https://example.com.evil.test', false],
    ['null', false],
  ])('%s → %s', (origin, expected) => {
    expect(originAllowed(policy.allowedOrigins, origin)).toBe(expected);
  });

  it('allows any origin with *, and none without an Origin header', () => {
    expect(originAllowed(['*'], 'https://x.test')).toBe(true);
    expect(originAllowed(['*'], undefined)).toBe(false);
    expect(originAllowed([], 'https://x.test')).toBe(false);
  });
});

describe('CORS headers', () => {
  it('answers a preflight from an allowed origin with methods, headers and max age', () => {
    const h = preflightHeaders(policy, 'https://app.example.com');
    expect(h).toMatchObject({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-methods': 'POST, OPTIONS',
      'access-control-max-age': '300',
      vary: 'Origin',
    });
    expect(h!['access-control-allow-headers']!.split(', ')).toEqual(expect.arrayContaining(['content-type', 'x-grpc-web', 'grpc-timeout', 'x-tenant']));
  });

  it('gives an origin that is not allowed no CORS headers at all', () => {
    expect(preflightHeaders(policy, 'https://evil.test')).toBeUndefined();
    expect(responseCorsHeaders(policy, 'https://evil.test')).toEqual({});
  });

  it('exposes grpc-status, grpc-message, x-meshlet-error and the configured headers', () => {
    const h = responseCorsHeaders(policy, 'http://127.0.0.1:7190');
    expect(h['access-control-allow-origin']).toBe('http://127.0.0.1:7190');
    expect(h['access-control-expose-headers']!.split(', ')).toEqual(expect.arrayContaining(['grpc-status', 'grpc-message', 'x-meshlet-error', 'x-request-cost']));
  });
});
