// SPDX-License-Identifier: Apache-2.0
// `meshlet explain`: the effective chain of one call, every value with its source.
import { beforeAll, describe, expect, it } from 'vitest';
import { outboundExplainLayers } from '../../../src/app/explain.js';
import { loadBootstrapWithOrigins, type LoadWithOrigins } from '../../../src/config/origin.js';
import { staticSource, type Env } from '../../../src/config/source.js';
import { explainCall, parseCallName, type ExplainInput } from '../../../src/policy/explain.js';
import { OUTBOUND_TERMINAL } from '../../../src/proxy/outbound.js';
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

const SIDECAR = [
  'service: { name: me }',
  'outbound: {}',
  'upstreams:',
  '  users:',
  "    endpoints: ['10.0.0.1:6143', { address: '10.0.0.2:6143', weight: 2 }]",
  '    balancing: { policy: round_robin }',
  '  sessions:',
  '    balancing:',
  '      hashHeader: x-user-id',
  '      policy: ring_hash',
  '  orders: {}',
  'tracing: { mode: on }',
  '',
].join('\n');

type Bootstrap = NonNullable<ExplainInput['bootstrap']>;

async function boot(yaml: string, env: Env = {}): Promise<Bootstrap> {
  const loaded: LoadWithOrigins = await loadBootstrapWithOrigins(staticSource('sidecar.yaml', yaml), env);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return { config: loaded.config, file: 'sidecar.yaml', originOf: loaded.originOf };
}

let bootstrap: Bootstrap;
beforeAll(async () => {
  bootstrap = await boot(SIDECAR);
});

/** explainCall with the chain the app would build for `b`. */
function explain(input: Omit<ExplainInput, 'layers' | 'terminal'>): string[] {
  return explainCall({ ...input, layers: outboundExplainLayers(input.bootstrap), terminal: OUTBOUND_TERMINAL });
}

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
  let lines: string[];
  beforeAll(() => {
    lines = explain({
      policy: policy(POLICY),
      policyFile: 'policy.yaml',
      policyNamedBy: '--policy',
      bootstrap,
      backend: 'users',
      method: 'user.v1.Users/Get',
    });
  });

  it("names the call, the policy file, the matched route and the whole chain with each layer's mode", () => {
    expect(lines.slice(0, 4)).toEqual([
      'call       users /user.v1.Users/Get',
      'policy     policy.yaml (named by --policy)',
      'route      routes[0] "get-user" (backend users, method user.v1.Users/Get)',
      'chain      rescue → access-log → tracing → metrics → deadline → route → rate-limit (no limit) → timeout (300 ms, idle 300000 ms) → retry (enforce) → circuit-breaker (limits enforce, breaker off) → balance → outlier (enforce) → endpoint-metrics → attempt-tracing → forward',
    ]);
  });

  it('lists the optional layers with the setting that switches each and where it came from (issue 11)', () => {
    expect(row(lines, 'optional layers', 'access-log')).toEqual(['access-log', 'on', 'log.accessLog true, built-in default']);
    expect(row(lines, 'optional layers', 'tracing')).toEqual(['tracing', 'on', 'tracing.mode on, sidecar.yaml:12']);
    expect(row(lines, 'optional layers', 'endpoint-metrics')).toEqual(['endpoint-metrics', 'on', 'metrics.enabled true, built-in default']);
  });

  it('leaves switched-off layers out of the chain', async () => {
    const off = explain({ policy: {}, policyFile: undefined, bootstrap: await boot('service: { name: a }\noutbound: {}\nlog: { accessLog: false }\nmetrics: { enabled: false }\n'), backend: 'x', method: 'a.B/C' });
    expect(off[3]).toBe('chain      rescue → deadline → route → rate-limit (no limit) → timeout (unary 15000 ms, idle 300000 ms) → retry (enforce) → circuit-breaker (off) → balance → outlier (enforce) → forward');
    expect(row(off, 'optional layers', 'metrics')).toEqual(['metrics', 'off', 'metrics.enabled false, sidecar.yaml:4']);
  });

  it('tells bootstrap values from the file, from the env and from schema defaults (issue 11)', async () => {
    const sessions = explain({ policy: {}, policyFile: undefined, bootstrap, backend: 'sessions', method: 'a.B/C' });
    expect(row(sessions, 'balancing', 'policy')).toEqual(['policy', 'ring_hash', 'sidecar.yaml:10 upstreams.sessions.balancing.policy']);
    expect(row(sessions, 'balancing', 'hashHeader')).toEqual(['hashHeader', 'x-user-id', 'sidecar.yaml:9 upstreams.sessions.balancing.hashHeader']);
    expect(row(sessions, 'balancing', 'ringSize')).toEqual(['ringSize', '1024', 'built-in default']);
    // A backend in the file without a balancing section: the policy is the schema's default, not the file's.
    const orders = explain({ policy: {}, policyFile: undefined, bootstrap, backend: 'orders', method: 'a.B/C' });
    expect(row(orders, 'balancing', 'policy')).toEqual(['policy', 'least_request', 'built-in default']);
    expect(row(orders, 'balancing', 'endpoints')).toEqual(['endpoints', 'none: no static endpoints and no consul section']);
    // CONSUL_HTTP_ADDR turns discovery on, as it does for `run`.
    const withEnv = await boot(SIDECAR, { CONSUL_HTTP_ADDR: '127.0.0.1:8500', MESHLET_LOG_LEVEL: 'debug' });
    const viaConsul = explain({ policy: {}, policyFile: undefined, bootstrap: withEnv, backend: 'orders', method: 'a.B/C' });
    expect(row(viaConsul, 'balancing', 'endpoints')).toEqual(['endpoints', 'discovered in Consul (consul.address: env CONSUL_HTTP_ADDR)']);
    expect(withEnv.originOf(['log', 'level'])).toBe('env MESHLET_LOG_LEVEL');
    expect(withEnv.originOf(['service', 'name'])).toBe('sidecar.yaml:1');
  });

  it('gives every value with where it came from', () => {
    expect(row(lines, 'timeout', 'timeoutMs')).toEqual(['timeoutMs', '300', 'routes[0] "get-user"']);
    expect(row(lines, 'retry', 'retryOn')).toEqual(['retryOn', '[unavailable]', 'routes[0] "get-user"']);
    expect(row(lines, 'retry', 'backoff.baseMs')).toEqual(['backoff.baseMs', '25', 'built-in default']);
    expect(row(lines, 'limits (backend users)', 'maxConcurrentRequests')).toEqual(['maxConcurrentRequests', '10', 'backends.users']);
    expect(row(lines, 'limits (backend users)', 'maxConcurrentRetries')).toEqual(['maxConcurrentRetries', '3', 'built-in default']);
    expect(row(lines, 'outlierDetection (endpoints of users)', 'consecutiveFailures')).toEqual(['consecutiveFailures', '7', 'built-in default']);
    expect(row(lines, 'balancing', 'policy')).toEqual(['policy', 'round_robin', 'sidecar.yaml:6 upstreams.users.balancing.policy']);
    expect(row(lines, 'balancing', 'endpoints')).toEqual(['endpoints', '10.0.0.1:6143, 10.0.0.2:6143 (weight 2)', 'sidecar.yaml:5 upstreams.users.endpoints']);
  });

  it('shows the gRFC A6 behaviours of enforced retries: the attempt header and the server pushback', () => {
    expect(lines).toContain('  note: each re-sent attempt carries grpc-previous-rpc-attempts: 1, 2, ... (gRFC A6)');
    expect(lines).toContain(
      "  note: an upstream's grpc-retry-pushback-ms >= 0 replaces the backoff (deadline, maxRetries and budget still apply); negative or malformed: no retry (gRFC A6)",
    );
    const shadow = explain({ policy: policy('defaults:\n  retry: { mode: shadow }\n'), policyFile: 'p.yaml', bootstrap, backend: 'x', method: 'a.B/C' });
    expect(shadow.some((l) => l.includes('grpc-previous-rpc-attempts') || l.includes('pushback'))).toBe(false);
  });

  it('shows the guards of calls without a deadline and of idle streams, with their sources and what they do (issue 14)', () => {
    const built = explain({ policy: {}, policyFile: undefined, bootstrap, backend: 'x', method: 'a.B/C' });
    expect(row(built, 'timeout', 'unaryTimeoutMs')).toEqual(['unaryTimeoutMs', '15000', 'built-in default']);
    expect(row(built, 'timeout', 'idleTimeoutMs')).toEqual(['idleTimeoutMs', '300000', 'built-in default']);
    expect(built).toContain(
      '  note: without grpc-timeout: DEADLINE_EXCEEDED (ERR_UNARY_TIMEOUT) if no response headers within 15000 ms of arrival, ' +
        'unless the client is still sending then (a stream); never sent upstream as grpc-timeout',
    );
    expect(built).toContain('  note: any call with no DATA either way for 300000 ms (checked every 250 ms) ends with DEADLINE_EXCEEDED (ERR_STREAM_IDLE_TIMEOUT)');
    // Under a route timeout every call has a deadline: the unary guard is said not to apply.
    expect(lines).toContain('  note: unaryTimeoutMs does not apply: the route timeout gives every call a deadline');

    const set = explain({
      policy: policy('defaults: { unaryTimeoutMs: 0 }\nroutes:\n  - match: { method: "w.Watch/*" }\n    idleTimeoutMs: 0\n'),
      policyFile: 'p.yaml',
      bootstrap,
      backend: 'x',
      method: 'w.Watch/Events',
    });
    expect(row(set, 'timeout', 'unaryTimeoutMs')).toEqual(['unaryTimeoutMs', '0', 'defaults']);
    expect(row(set, 'timeout', 'idleTimeoutMs')).toEqual(['idleTimeoutMs', '0', 'routes[0]']);
    expect(set[3]).toContain('→ timeout (none) →');
    expect(set).toContain('  note: without grpc-timeout the call has no limit but idleTimeoutMs');
    expect(set).toContain('  note: no idle timeout: a silent stream is held until it ends');
  });

  it('falls back to backend and default settings when no route matches', () => {
    const other = explain({ policy: policy(POLICY), policyFile: 'policy.yaml', bootstrap, backend: 'users', method: 'user.v1.Users/List' });
    expect(other[2]).toBe('route      no route matches: backend and default settings only');
    expect(row(other, 'timeout', 'timeoutMs')).toEqual(['timeoutMs', '10000', 'defaults']);
  });

  it('says when retries are off entirely, and when balancing and optional layers are unknown without a bootstrap', () => {
    const off = explain({
      policy: policy('defaults:\n  retry: { mode: off }\n'),
      policyFile: 'p.yaml',
      bootstrap: undefined,
      backend: 'x',
      method: 'a.B/C',
    });
    expect(off).toContain('  note: no retries at all, not even of attempts that never reached the app');
    expect(row(off, 'balancing', 'policy')?.[2]).toContain('give the bootstrap');
    expect(off[3]).toContain('rescue → access-log? → tracing? → metrics? → deadline');
    expect(row(off, 'optional layers', 'metrics')).toEqual(['metrics', '?', 'metrics.enabled ?, no bootstrap given']);
  });

  it('with no policy file, every value is a built-in default', () => {
    const none = explain({ policy: {}, policyFile: undefined, bootstrap, backend: 'elsewhere', method: 'a.B/C' });
    expect(none[1]).toBe('policy     none (built-in defaults): sidecar.yaml sets no policy.file');
    expect(row(none, 'balancing', 'policy')).toEqual(['policy', 'least_request', 'built-in default (elsewhere is not in sidecar.yaml upstreams)']);
  });
});
