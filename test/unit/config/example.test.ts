// SPDX-License-Identifier: Apache-2.0
// config/sidecar.yaml, the documented example, is a valid bootstrap and means what its comments say.

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../../src/config/errors.js';
import { loadBootstrap } from '../../../src/config/load.js';
import { fileSource } from '../../../src/config/source.js';

const EXAMPLE = fileURLToPath(new URL('../../../config/sidecar.yaml', import.meta.url));

describe('config/sidecar.yaml', () => {
  it('is a valid bootstrap for user-service', async () => {
    const result = await loadBootstrap(fileSource(EXAMPLE), {});
    if (!result.ok) throw new Error(result.errors.map(formatIssue).join('\n'));
    const c = result.config;
    expect(c.service.name).toBe('user-service');
    expect(c.inbound).toEqual({ listen: '0.0.0.0:6143', app: '127.0.0.1:50051' });
    expect(c.outbound).toEqual({ listen: '127.0.0.1:6140' });
    expect(Object.keys(c.upstreams)).toEqual(['billing', 'sessions', 'audit-log']);
    expect(c.upstreams['sessions']?.balancing).toEqual({ policy: 'ring_hash', hashHeader: 'x-user-id', ringSize: 1024 });
    expect(c.upstreams['audit-log']?.endpoints).toEqual(['10.0.3.17:9090', { address: '10.0.3.18:9090', weight: 2 }]);
    expect(c.consul?.token).toBeUndefined();
  });
});
