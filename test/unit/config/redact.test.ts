// SPDX-License-Identifier: Apache-2.0
// redactConfig: the copy served on /config never carries secrets, and the original is untouched.

import { describe, expect, it } from 'vitest';
import { loadBootstrap } from '../../../src/config/load.js';
import { isSecretKey, REDACTED, redactConfig } from '../../../src/config/redact.js';
import { staticSource } from '../../../src/config/source.js';

describe('redactConfig', () => {
  it('redacts the Consul token of a loaded (frozen) config and leaves the original intact', async () => {
    const result = await loadBootstrap(
      staticSource('sidecar.yaml', 'service: { name: a }\noutbound: {}\nconsul: { caFile: /ca.pem }\n'),
      { CONSUL_HTTP_TOKEN: 's3cr3t-token' },
    );
    if (!result.ok) throw new Error('expected a valid config');
    const redacted = redactConfig(result.config);
    expect(redacted.consul?.token).toBe(REDACTED);
    expect(redacted.consul?.caFile).toBe('/ca.pem');
    expect(result.config.consul?.token).toBe('s3cr3t-token');
    expect(JSON.stringify(redacted)).not.toContain('s3cr3t');
    expect({ ...redacted, consul: undefined }).toEqual({ ...result.config, consul: undefined });
  });

  it('redacts every key named like a secret, at any depth, including inside lists', () => {
    const input = {
      token: 't',
      service: { meta: { 'api-key': 'k', owner: 'team', db_password: 'p' } },
      list: [{ clientSecret: 's', name: 'n' }],
      credentials: { user: 'u' },
    };
    expect(redactConfig(input)).toEqual({
      token: REDACTED,
      service: { meta: { 'api-key': REDACTED, owner: 'team', db_password: REDACTED } },
      list: [{ clientSecret: REDACTED, name: 'n' }],
      credentials: REDACTED,
    });
  });

  it('keeps paths to secrets and look-alike names readable', () => {
    for (const key of ['keyFile', 'tokenPath', 'caFile', 'hashHeader', 'keepaliveIntervalMs', 'monkey', 'tokens_used']) {
      expect(isSecretKey(key), key).toBe(false);
    }
    for (const key of ['token', 'apiKey', 'API_KEY', 'private-key', 'password', 'consulToken']) {
      expect(isSecretKey(key), key).toBe(true);
    }
  });

  it('redacts the password of a URL with credentials', () => {
    expect(redactConfig({ address: 'https://user:hunter2@consul:8501' })).toEqual({
      address: `https://user:${REDACTED}@consul:8501`,
    });
    expect(redactConfig({ address: 'http://127.0.0.1:8500' })).toEqual({ address: 'http://127.0.0.1:8500' });
  });
});
