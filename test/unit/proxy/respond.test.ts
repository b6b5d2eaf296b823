// SPDX-License-Identifier: Apache-2.0
// Error trailers per side (issue 11): the inbound side sends a generic grpc-message, the outbound side the detail.

import { describe, expect, it } from 'vitest';
import { ProxyError, toProxyError } from '../../../src/errors.js';
import { errorReply, errorTrailers, wireMessage } from '../../../src/proxy/respond.js';

const refused = toProxyError(Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:6143'), { code: 'ECONNREFUSED' }));
const lost = new ProxyError('ERR_UPSTREAM_CONNECTION_LOST', 'connection to upstream 10.1.2.3:6143 lost');

describe('wireMessage', () => {
  it('gives the outbound side (the local app) the whole message', () => {
    expect(wireMessage(lost, 'outbound')).toBe('connection to upstream 10.1.2.3:6143 lost');
    expect(wireMessage(refused, 'outbound')).toContain('ECONNREFUSED');
  });

  it('gives the inbound side (other services) the status and code only', () => {
    expect(wireMessage(lost, 'inbound')).toBe('meshlet: unavailable (ERR_UPSTREAM_CONNECTION_LOST)');
    expect(wireMessage(new ProxyError('ERR_DEADLINE_EXCEEDED', 'Deadline exceeded (meshlet)'), 'inbound')).toBe(
      'meshlet: deadline exceeded (ERR_DEADLINE_EXCEEDED)',
    );
    expect(wireMessage(refused, 'inbound')).not.toMatch(/10\.1\.2\.3|ECONN/);
  });
});

describe('errorTrailers and errorReply', () => {
  it('put the side\'s message on the wire and keep the full message in the call end', () => {
    expect(errorTrailers(lost, 'inbound')).toEqual({
      'grpc-status': '14',
      'grpc-message': 'meshlet: unavailable (ERR_UPSTREAM_CONNECTION_LOST)',
      'x-meshlet-error': 'ERR_UPSTREAM_CONNECTION_LOST',
    });
    const reply = errorReply(lost, 'inbound');
    expect(reply.headers['grpc-message']).toBe('meshlet: unavailable (ERR_UPSTREAM_CONNECTION_LOST)');
    expect(reply.end?.message).toBe('connection to upstream 10.1.2.3:6143 lost');
    expect(errorReply(lost, 'outbound').headers['grpc-message']).toBe('connection to upstream 10.1.2.3:6143 lost');
  });
});
