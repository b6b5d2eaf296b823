// SPDX-License-Identifier: Apache-2.0
// Shadow mode (issue 4 acceptance): the scenarios of resilience.test.ts with every protective feature in shadow
// mode let every call through unchanged and count what enforce mode would have rejected.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { echoClient, startEcho, unary, type EchoBehaviour, type EchoClient, type EchoServer } from '../helpers/echo.js';
import { callMany, startPolicySidecar, type PolicySidecar } from '../helpers/resilience.js';
import { useCleanup } from '../helpers/cleanup.js';

const defer = useCleanup();

async function echo(behaviour: EchoBehaviour = {}): Promise<EchoServer> {
  const e = await startEcho({}, behaviour);
  defer(() => e.close());
  return e;
}
async function sidecar(opts: Parameters<typeof startPolicySidecar>[0]): Promise<PolicySidecar> {
  const s = await startPolicySidecar(opts);
  defer(() => s.close());
  return s;
}
function client(address: string): EchoClient {
  const c = echoClient(address, 'echo');
  defer(() => c.close());
  return c;
}

describe('shadow mode', () => {
  it('outlier detection: the failing endpoint keeps its share of calls; the ejections are counted', async () => {
    const good = [await echo(), await echo()];
    const bad = await echo({ failStatus: grpc.status.UNAVAILABLE });
    const s = await sidecar({
      endpoints: [good[0]!.address, good[1]!.address, bad.address],
      policyYaml: 'defaults:\n  outlierDetection: { mode: shadow, baseEjectionMs: 100, maxEjectionMs: 200 }\n',
    });
    const results = await callMany(client(s.outbound), 300, 10);
    const failed = results.filter((r) => r.err !== null).length;
    // Round robin: a third of the calls still go to the failing endpoint.
    expect(failed).toBe(100);
    expect(bad.calls).toHaveLength(100);
    expect(s.events.count('shadow:outlier:echo:eject')).toBeGreaterThanOrEqual(1);
    expect(s.events.count('eject:echo')).toBe(0);
    expect(s.logs.some((l) => l['msg'] === 'outlier would be ejected (shadow)')).toBe(true);
  });

  it('concurrency limit 10 with 50 concurrent slow calls: all 50 succeed, 40 are counted as would-be overflow', async () => {
    const e = await echo();
    const s = await sidecar({
      endpoints: [e.address],
      policyYaml: 'backends:\n  echo:\n    limits: { mode: shadow, maxConcurrentRequests: 10 }\n',
    });
    const c = client(s.outbound);
    await unary(c, Buffer.from('warm-up'));
    const md = new grpc.Metadata();
    md.set('delay-ms', '300');
    const results = await Promise.all(Array.from({ length: 50 }, () => unary(c, Buffer.from('x'), md)));
    expect(results.filter((r) => r.err !== null)).toEqual([]);
    expect(s.events.count('shadow:limits:echo:max_requests')).toBe(40);
    expect(s.events.count('overflow:echo:max_requests')).toBe(0);
  });

  it('retry budget under a 100 % failure storm: every retry maxRetries allows is made; the overdraft is counted', async () => {
    const fail: EchoBehaviour = { failStatus: grpc.status.UNAVAILABLE };
    const upstreams = [await echo(fail), await echo(fail)];
    const s = await sidecar({
      endpoints: upstreams.map((e) => e.address),
      policyYaml: [
        'defaults:',
        '  retry: { retryOn: [unavailable], maxRetries: 2, backoff: { baseMs: 1, maxMs: 2 } }',
        '  retryBudget: { mode: shadow, retryPercent: 20, minRetriesPerSecond: 1 }',
        '  outlierDetection: { mode: off }',
        '',
      ].join('\n'),
    });
    const calls = 200;
    await callMany(client(s.outbound), calls, 20);
    expect(upstreams.reduce((n, e) => n + e.calls.length, 0)).toBe(calls * 3);
    // Enforced, at most 20 % of 200 + 10 would have been allowed: at least the other 350 retries are overdraft
    // (more, since shadow keeps counting the retries it lets through against the budget).
    expect(s.events.count('shadow:retry_budget:echo:exhausted')).toBeGreaterThanOrEqual(calls * 2 - (0.2 * calls + 10));
    expect(s.events.count('shadow:retry_budget:echo:exhausted')).toBeLessThanOrEqual(calls * 2);
    expect(s.events.count('budget:echo')).toBe(0);
  });

  it('failure-rate breaker: it opens in shadow, every call still reaches the upstream', async () => {
    const e = await echo({ failStatus: grpc.status.INTERNAL });
    const s = await sidecar({
      endpoints: [e.address],
      policyYaml: 'backends:\n  echo:\n    circuitBreaker: { mode: shadow, windowCalls: 20, minimumCalls: 10, openMs: 60000 }\n',
    });
    await callMany(client(s.outbound), 30, 1);
    expect(e.calls).toHaveLength(30);
    expect(s.events.count('breaker:echo:open')).toBe(1);
    expect(s.events.count('shadow:circuit_breaker:echo:open')).toBe(20);
  });
});
