// SPDX-License-Identifier: Apache-2.0
// The route timeout: from arrival, only ever tightening the client's deadline; and the guards of calls without a
// deadline and of idle calls (unaryTimeoutMs, idleTimeoutMs).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PolicyStore } from '../../../../src/policy/store.js';
import { timeoutLayer } from '../../../../src/proxy/layers/timeout.js';
import { makeCall, policy, streaming, trailersOnly } from './resilience-harness.js';
import type { ProxyCall, ProxyReply } from '../../../../src/proxy/call.js';

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

describe('timeoutLayer guards (issue 14): calls without a deadline, idle calls', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A call through the layer to a terminal that resolves (or never does) as the test says. */
  function guarded(yaml: string, opts: { clientDeadlineMs?: number; requestOpen?: boolean; routeTimeout?: boolean } = {}) {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] });
    const layer = timeoutLayer({ store: new PolicyStore(policy(yaml)), ...(opts.routeTimeout === false ? { routeTimeout: false, backend: 'a' } : {}) });
    const call = makeCall('a');
    calls.push(call);
    Object.defineProperty(call.body, 'open', { get: () => opts.requestOpen ?? false });
    if (opts.clientDeadlineMs !== undefined) call.tightenDeadline(call.startMs + opts.clientDeadlineMs, performance.now(), () => new Error('client') as never);
    let answer: (r: ProxyReply) => void = () => {};
    const cancelled: unknown[] = [];
    call.onCancel((e) => cancelled.push(e));
    const reply = layer(() => new Promise<ProxyReply>((resolve, reject) => {
      answer = resolve;
      call.onCancel(reject);
    }))(call);
    reply.catch(() => {});
    return { call, reply, answer: (r: ProxyReply) => answer(r), cancelled };
  }

  it('ends a call without a deadline whose upstream never answers with ERR_UNARY_TIMEOUT at unaryTimeoutMs', async () => {
    const t = guarded('defaults: { unaryTimeoutMs: 200, idleTimeoutMs: 0 }\n');
    vi.advanceTimersByTime(199);
    expect(t.cancelled).toEqual([]);
    // Swept every quarter of the timeout: it ends within one sweep (50 ms) after it.
    vi.advanceTimersByTime(51);
    await expect(t.reply).rejects.toMatchObject({ code: 'ERR_UNARY_TIMEOUT', grpcStatus: 4 });
    expect(t.call.deadlineMs).toBe(Infinity); // never a deadline: nothing is sent upstream as grpc-timeout
  });

  it('has no unary guard for a call with a client deadline or a route timeout, nor with unaryTimeoutMs 0', () => {
    for (const [yaml, deadline] of [
      ['defaults: { unaryTimeoutMs: 200, idleTimeoutMs: 0 }\n', 60_000],
      ['defaults: { unaryTimeoutMs: 200, idleTimeoutMs: 0, timeoutMs: 60000 }\n', undefined],
      ['defaults: { unaryTimeoutMs: 0, idleTimeoutMs: 0 }\n', undefined],
    ] as const) {
      const t = guarded(yaml, deadline === undefined ? {} : { clientDeadlineMs: deadline });
      vi.advanceTimersByTime(10_000);
      expect(t.cancelled, yaml).toEqual([]);
      vi.useRealTimers();
    }
  });

  it('does not cut a stream whose response started, and ends it once it has been idle for idleTimeoutMs', async () => {
    const t = guarded('defaults: { unaryTimeoutMs: 200, idleTimeoutMs: 1000 }\n');
    vi.advanceTimersByTime(50);
    const reply = streaming();
    t.answer(reply);
    await t.reply;
    // Messages flow for 5 s, far past unaryTimeoutMs: never cut.
    for (let i = 0; i < 50; i++) {
      t.call.responseBytes += 10;
      vi.advanceTimersByTime(100);
    }
    expect(t.cancelled).toEqual([]);
    const lastData = performance.now();
    await vi.waitUntil(() => {
      vi.advanceTimersByTime(50);
      return t.cancelled.length > 0;
    });
    expect(t.cancelled[0]).toMatchObject({ code: 'ERR_STREAM_IDLE_TIMEOUT', grpcStatus: 4 });
    const silence = performance.now() - lastData;
    // idleTimeoutMs plus at most two sweeps (50 ms each here) and the test's own 50 ms steps.
    expect(silence).toBeGreaterThanOrEqual(1000);
    expect(silence).toBeLessThanOrEqual(1150);
  });

  it('leaves a client stream still sending at unaryTimeoutMs to the idle guard', () => {
    const t = guarded('defaults: { unaryTimeoutMs: 200, idleTimeoutMs: 0 }\n', { requestOpen: true });
    vi.advanceTimersByTime(10_000);
    expect(t.cancelled).toEqual([]);
  });

  it('stops sweeping when no guarded call is left', async () => {
    const t = guarded('defaults: { unaryTimeoutMs: 200, idleTimeoutMs: 1000 }\n');
    expect(vi.getTimerCount()).toBe(1);
    t.answer(trailersOnly(0));
    await t.reply;
    vi.advanceTimersByTime(50); // the next sweep finds no guard and stops
    expect(vi.getTimerCount()).toBe(0);
  });

  it('inbound (routeTimeout false): applies the guards of the service policy but not the route timeout', () => {
    const t = guarded('defaults: { timeoutMs: 100, unaryTimeoutMs: 300, idleTimeoutMs: 0 }\n', { routeTimeout: false });
    expect(t.call.deadlineMs).toBe(Infinity);
    vi.advanceTimersByTime(299);
    expect(t.cancelled).toEqual([]);
    vi.advanceTimersByTime(76);
    expect(t.cancelled[0]).toMatchObject({ code: 'ERR_UNARY_TIMEOUT' });
  });
});
