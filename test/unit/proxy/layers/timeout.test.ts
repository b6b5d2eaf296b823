// SPDX-License-Identifier: Apache-2.0
// The route timeout: from arrival, only ever tightening the client's deadline.
import { afterEach, describe, expect, it } from 'vitest';
import { PolicyStore } from '../../../../src/policy/store.js';
import { timeoutLayer } from '../../../../src/proxy/layers/timeout.js';
import { makeCall, policy, trailersOnly } from './resilience-harness.js';
import type { ProxyCall } from '../../../../src/proxy/call.js';

const calls: ProxyCall[] = [];
afterEach(() => {
  for (const c of calls.splice(0)) c.clearDeadline();
});

function run(yaml: string, clientDeadlineMs: number | undefined) {
  const layer = timeoutLayer({ store: new PolicyStore(policy(yaml)) });
  const call = makeCall('a');
  calls.push(call);
  if (clientDeadlineMs !== undefined) call.tightenDeadline(call.startMs + clientDeadlineMs, performance.now(), () => new Error('client') as never);
  void layer(() => Promise.resolve(trailersOnly(0)))(call);
  return call;
}

describe('timeoutLayer', () => {
  it('sets the deadline to the route timeout after arrival when the client has none', () => {
    const call = run('routes:\n  - match: { method: "pkg.S/Get" }\n    timeoutMs: 300\n', undefined);
    expect(call.deadlineMs).toBe(call.startMs + 300);
  });

  it('keeps the client deadline when it is earlier, and tightens it when the route timeout is', () => {
    const earlyClient = run('defaults: { timeoutMs: 300 }\n', 100);
    expect(earlyClient.deadlineMs).toBe(earlyClient.startMs + 100);
    const lateClient = run('defaults: { timeoutMs: 300 }\n', 5000);
    expect(lateClient.deadlineMs).toBe(lateClient.startMs + 300);
  });

  it('does nothing with timeoutMs 0 (the default)', () => {
    expect(run('routes: []\n', undefined).deadlineMs).toBe(Infinity);
  });

  it('expires with DEADLINE_EXCEEDED naming the route timeout', async () => {
    const call = run('defaults: { timeoutMs: 1 }\n', undefined);
    const reason = await new Promise((resolve) => call.onCancel(resolve));
    expect(reason).toMatchObject({ code: 'ERR_DEADLINE_EXCEEDED', message: 'Deadline exceeded (meshlet route timeout)' });
  });
});
