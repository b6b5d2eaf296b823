// SPDX-License-Identifier: Apache-2.0
// gRFC A6 through a real sidecar to a real grpc-js upstream: the attempt count each re-sent attempt carries, and
// the upstream's grpc-retry-pushback-ms honoured (a delay) or obeyed (no retry).
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { echoClient, startEcho, unary, type EchoClient, type EchoServer } from '../helpers/echo.js';
import { startPolicySidecar, type PolicySidecar } from '../helpers/resilience.js';
import { useCleanup } from '../helpers/cleanup.js';

const defer = useCleanup();

async function echo(): Promise<EchoServer> {
  const e = await startEcho();
  defer(() => e.close());
  return e;
}
async function sidecar(policyYaml: string, endpoints: readonly string[]): Promise<PolicySidecar> {
  const s = await startPolicySidecar({ endpoints, policyYaml });
  defer(() => s.close());
  return s;
}
function client(address: string): EchoClient {
  const c = echoClient(address, 'echo');
  defer(() => c.close());
  return c;
}
function md(entries: Record<string, string>): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) m.set(k, v);
  return m;
}

// Backoff of at most 1 ms, so a wait of hundreds of ms can only be the pushback.
const POLICY = 'defaults:\n  retry: { retryOn: [unavailable], maxRetries: 3, backoff: { baseMs: 1, maxMs: 1 } }\n';

describe('gRFC A6 through the sidecar', () => {
  it('the upstream sees grpc-previous-rpc-attempts 1, 2, 3 on the retried attempts and none on the first', async () => {
    const e = await echo();
    const s = await sidecar(POLICY, [e.address]);
    const r = await unary(client(s.outbound), Buffer.from('x'), md({ 'fail-until-attempt': '4', 'x-call-id': 'a6-count' }));
    expect(r.err).toBeNull();
    expect(e.calls.map((c) => c.previousRpcAttempts)).toEqual([undefined, '1', '2', '3']);
  });

  it('a non-negative grpc-retry-pushback-ms delays the retry by at least that long', async () => {
    const e = await echo();
    const s = await sidecar(POLICY, [e.address]);
    const r = await unary(
      client(s.outbound),
      Buffer.from('x'),
      md({ 'fail-until-attempt': '2', 'x-call-id': 'a6-pushback', 'retry-pushback-ms': '250' }),
    );
    expect(r.err).toBeNull();
    expect(e.calls).toHaveLength(2);
    const [first, second] = e.calls as [EchoServer['calls'][number], EchoServer['calls'][number]];
    // Measured between the two arrivals at the upstream; a timer never fires early by more than its clock's 1 ms.
    expect(second.atMs - first.atMs).toBeGreaterThanOrEqual(249);
    expect(s.events.count('pushback:echo')).toBe(1);
  });

  it('a negative or malformed grpc-retry-pushback-ms stops the retries; the client gets the failure', async () => {
    const e = await echo();
    const s = await sidecar(POLICY, [e.address]);
    const c = client(s.outbound);
    for (const value of ['-1', 'soon']) {
      const before = e.calls.length;
      const r = await unary(c, Buffer.from('x'), md({ 'respond-with-status': '14', 'retry-pushback-ms': value }));
      expect(r.err?.code, value).toBe(grpc.status.UNAVAILABLE);
      expect(e.calls.length - before, value).toBe(1);
    }
    expect(s.events.count('giveUp:echo:pushback')).toBe(2);
    expect(s.events.count('retry:echo:status')).toBe(0);
  });
});
