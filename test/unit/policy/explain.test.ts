// SPDX-License-Identifier: Apache-2.0
// `meshlet explain`: the effective chain of one call, every value with its source.
import { describe, expect, it } from 'vitest';
import { bootstrapSchema } from '../../../src/config/schema.js';
import { explainCall, parseCallName } from '../../../src/policy/explain.js';
import { parsePolicy } from '../../../src/policy/load.js';
import type { Policy } from '../../../src/policy/schema.js';

const POLICY = `
defaults:
  timeoutMs: 10000
backends:
  users:
    limits: { mode: enforce, maxConcurrentRequests: 10 }
routes:
  - name: get-user
    match: { backend: users, method: "user.v1.Users/Get" }
    timeoutMs: 300
    retry: { retryOn: [unavailable], maxRetries: 3 }
`;

function policy(yaml: string): Policy {
  const r = parsePolicy('policy.yaml', yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

const bootstrap = bootstrapSchema.parse({
  service: { name: 'me' },
  outbound: {},
  upstreams: { users: { endpoints: ['10.0.0.1:6143', { address: '10.0.0.2:6143', weight: 2 }], balancing: { policy: 'round_robin' } } },
});

/** The row of `table` whose first column is `key`, split into its columns. */
function row(lines: string[], table: string, key: string): string[] | undefined {
  const start = lines.indexOf(table);
  if (start < 0) return undefined;
  for (let i = start + 1; i < lines.length && lines[i] !== ''; i++) {
    const cols = (lines[i] as string).trim().split(/\s{2,}/);
    if (cols[0] === key) return cols;
  }
  return undefined;
}

describe('parseCallName', () => {
  it('splits BACKEND/pkg.Service/Method and rejects anything else', () => {
    expect(parseCallName('users/user.v1.Users/Get')).toEqual({ backend: 'users', method: 'user.v1.Users/Get' });
    expect(parseCallName('user.v1.Users/Get')).toBeUndefined();
    expect(parseCallName('users/user.v1.Users/*')).toBeUndefined();
  });
});

describe('explainCall', () => {
  const lines = explainCall({
    policy: policy(POLICY),
    policyFile: 'policy.yaml',
    bootstrap,
    bootstrapFile: 'sidecar.yaml',
    backend: 'users',
    method: 'user.v1.Users/Get',
  });

  it('names the call, the policy file, the matched route and the chain with each layer\'s mode', () => {
    expect(lines.slice(0, 4)).toEqual([
      'call       users /user.v1.Users/Get',
      'policy     policy.yaml',
      'route      routes[0] "get-user" (backend users, method user.v1.Users/Get)',
      'chain      rescue → access-log → deadline → route → timeout (300 ms) → retry (enforce) → circuit-breaker (limits enforce, breaker off) → balance → outlier (enforce) → forward',
    ]);
  });

  it('gives every value with where it came from', () => {
    expect(row(lines, 'timeout', 'timeoutMs')).toEqual(['timeoutMs', '300', 'routes[0] "get-user"']);
    expect(row(lines, 'retry', 'retryOn')).toEqual(['retryOn', '[unavailable]', 'routes[0] "get-user"']);
    expect(row(lines, 'retry', 'backoff.baseMs')).toEqual(['backoff.baseMs', '25', 'built-in default']);
    expect(row(lines, 'limits (backend users)', 'maxConcurrentRequests')).toEqual(['maxConcurrentRequests', '10', 'backends.users']);
    expect(row(lines, 'limits (backend users)', 'maxConcurrentRetries')).toEqual(['maxConcurrentRetries', '3', 'built-in default']);
    expect(row(lines, 'outlierDetection (endpoints of users)', 'consecutiveFailures')).toEqual(['consecutiveFailures', '7', 'built-in default']);
    expect(row(lines, 'balancing', 'policy')).toEqual(['policy', 'round_robin', 'sidecar.yaml upstreams.users.balancing']);
    expect(row(lines, 'balancing', 'endpoints')).toEqual(['endpoints', '10.0.0.1:6143, 10.0.0.2:6143 (weight 2)', 'sidecar.yaml upstreams.users.endpoints']);
  });

  it('falls back to backend and default settings when no route matches', () => {
    const other = explainCall({ policy: policy(POLICY), policyFile: 'policy.yaml', bootstrap, backend: 'users', method: 'user.v1.Users/List' });
    expect(other[2]).toBe('route      no route matches: backend and default settings only');
    expect(row(other, 'timeout', 'timeoutMs')).toEqual(['timeoutMs', '10000', 'defaults']);
  });

  it('says when retries are off entirely, and when balancing is unknown without a bootstrap', () => {
    const off = explainCall({
      policy: policy('defaults:\n  retry: { mode: off }\n'),
      policyFile: 'p.yaml',
      bootstrap: undefined,
      backend: 'x',
      method: 'a.B/C',
    });
    expect(off).toContain('  note: no retries at all, not even of attempts that never reached the app');
    expect(row(off, 'balancing', 'policy')?.[2]).toContain('give the bootstrap');
  });

  it('with no policy file, every value is a built-in default', () => {
    const none = explainCall({ policy: {}, policyFile: undefined, bootstrap, backend: 'elsewhere', method: 'a.B/C' });
    expect(none[1]).toBe('policy     none (built-in defaults)');
    expect(row(none, 'balancing', 'policy')).toEqual(['policy', 'least_request', 'built-in default (elsewhere is not in bootstrap upstreams)']);
  });
});
