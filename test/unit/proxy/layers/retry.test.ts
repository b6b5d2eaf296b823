// SPDX-License-Identifier: Apache-2.0
// The retry layer over a stub terminal: what is retried, what never is, on which endpoint, within which limits.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProxyError } from '../../../../src/errors.js';
import { PolicyStore } from '../../../../src/policy/store.js';
import { BackendStates } from '../../../../src/resilience/backend-state.js';
import type { ProxyCall, ProxyReply } from '../../../../src/proxy/call.js';
import { Status } from '../../../../src/grpc/status.js';
import type { Handler } from '../../../../src/proxy/layer.js';
import { AVOID_ENDPOINTS } from '../../../../src/proxy/layers/balance.js';
import { AttemptCall, retryLayer } from '../../../../src/proxy/layers/retry.js';
import { countingEvents, makeCall, policy, streaming, trailersOnly } from './resilience-harness.js';

const refused = () => new ProxyError('ERR_UPSTREAM_REFUSED_STREAM', 'refused', { neverReachedApp: true });

/** A terminal that plays `script` (one entry per attempt) and records each attempt's endpoint and avoid set. */
function scripted(script: Array<() => Promise<ProxyReply>>) {
  const seen: Array<{ endpoint: string; avoid: string[] }> = [];
  const handler: Handler = (call: ProxyCall) => {
    const n = seen.length;
    const endpoint = `10.0.0.${n + 1}:80`;
    seen.push({ endpoint, avoid: [...(call.get(AVOID_ENDPOINTS) ?? [])] });
    call.endpoint = endpoint;
    const step = script[Math.min(n, script.length - 1)] as () => Promise<ProxyReply>;
    return step();
  };
  return { handler, seen };
}

function setup(yaml = 'routes: []\n') {
  const events = countingEvents();
  const states = new BackendStates(new PolicyStore(policy(yaml)), { events });
  const layer = retryLayer({ states, events, random: () => 0 });
  return { states, events, layer };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('retryLayer', () => {
  it('by default retries only attempts that never reached the app, each on an endpoint not tried yet', async () => {
    const { layer, events } = setup();
    const t = scripted([() => Promise.reject(refused()), () => Promise.reject(refused()), () => Promise.resolve(trailersOnly(0))]);
    const reply = await layer(t.handler)(makeCall('a'));
    expect(reply.end?.status).toBe(0);
    expect(t.seen).toEqual([
      { endpoint: '10.0.0.1:80', avoid: [] },
      { endpoint: '10.0.0.2:80', avoid: ['10.0.0.1:80'] },
      { endpoint: '10.0.0.3:80', avoid: ['10.0.0.1:80', '10.0.0.2:80'] },
    ]);
    expect(events.count('retry:a:never_reached_app')).toBe(2);
  });

  it('does not retry an UNAVAILABLE the app answered unless retryOn lists it', async () => {
    const off = setup();
    const t1 = scripted([() => Promise.resolve(trailersOnly(Status.UNAVAILABLE)), () => Promise.resolve(trailersOnly(0))]);
    expect((await off.layer(t1.handler)(makeCall('a'))).end?.status).toBe(Status.UNAVAILABLE);
    expect(t1.seen).toHaveLength(1);

    const on = setup('defaults:\n  retry: { retryOn: [unavailable] }\n');
    const t2 = scripted([() => Promise.resolve(trailersOnly(Status.UNAVAILABLE)), () => Promise.resolve(trailersOnly(0))]);
    const call = makeCall('a');
    expect((await on.layer(t2.handler)(call)).end?.status).toBe(0);
    expect(t2.seen).toHaveLength(2);
    expect(call.fakeBody.detaches).toBe(1); // the failed attempt's stream gave the body back before the retry
    expect(on.events.count('retry:a:status')).toBe(1);
  });

  it('never retries a reply whose response headers arrived, whatever status its trailers carry', async () => {
    const { layer } = setup('defaults:\n  retry: { retryOn: [unavailable] }\n');
    const reply = streaming();
    const t = scripted([() => Promise.resolve(reply)]);
    expect(await layer(t.handler)(makeCall('a'))).toBe(reply);
    reply.finish({ status: Status.UNAVAILABLE, message: undefined, error: undefined });
    expect(t.seen).toHaveLength(1);
  });

  it('never retries a body that outgrew the replay buffer, nor an unfinished body after a Trailers-Only answer', async () => {
    const { layer, events } = setup('defaults:\n  retry: { retryOn: [unavailable] }\n');
    const t1 = scripted([() => Promise.reject(refused())]);
    await expect(layer(t1.handler)(makeCall('a', '/pkg.S/Get', { replayable: false }))).rejects.toMatchObject({ code: 'ERR_UPSTREAM_REFUSED_STREAM' });
    expect(t1.seen).toHaveLength(1);
    const t2 = scripted([() => Promise.resolve(trailersOnly(Status.UNAVAILABLE))]);
    expect((await layer(t2.handler)(makeCall('a', '/pkg.S/Get', { complete: false }))).end?.status).toBe(Status.UNAVAILABLE);
    expect(t2.seen).toHaveLength(1);
    expect(events.count('giveUp:a:body')).toBe(2);
  });

  it('stops after maxRetries and answers with the last failure', async () => {
    const { layer, events } = setup('defaults:\n  retry: { maxRetries: 1 }\n');
    const t = scripted([() => Promise.reject(refused())]);
    await expect(layer(t.handler)(makeCall('a'))).rejects.toMatchObject({ code: 'ERR_UPSTREAM_REFUSED_STREAM' });
    expect(t.seen).toHaveLength(2);
    expect(events.count('giveUp:a:max_retries')).toBe(1);
  });

  it('never retries meshlet\'s own rejections (overflow, open breaker, no endpoints)', async () => {
    const { layer } = setup('defaults:\n  retry: { retryOn: [unavailable] }\n');
    for (const code of ['ERR_LIMIT_MAX_REQUESTS', 'ERR_CIRCUIT_OPEN', 'ERR_NO_ENDPOINTS'] as const) {
      const t = scripted([() => Promise.reject(new ProxyError(code, 'local', { neverReachedApp: true }))]);
      await expect(layer(t.handler)(makeCall('a'))).rejects.toMatchObject({ code });
      expect(t.seen, code).toHaveLength(1);
    }
  });

  it('stays within the retry budget and counts the refusals', async () => {
    const { layer, events } = setup('defaults:\n  retryBudget: { retryPercent: 50, minRetriesPerSecond: 0 }\n');
    const t = scripted([() => Promise.reject(refused())]);
    for (let i = 0; i < 10; i++) await layer(t.handler)(makeCall('a')).catch(() => undefined);
    // 10 requests, 50 %: 5 retries in all, whatever maxRetries (2 per call) would allow; every call ends on a
    // refused retry.
    expect(t.seen).toHaveLength(15);
    expect(events.count('retry:a:never_reached_app')).toBe(5);
    expect(events.count('budget:a')).toBe(10);
  });

  it('shadow budget: retries go on past the budget and are counted as would-be refusals', async () => {
    const { layer, events } = setup('defaults:\n  retry: { maxRetries: 1 }\n  retryBudget: { mode: shadow, retryPercent: 0, minRetriesPerSecond: 0 }\n');
    const t = scripted([() => Promise.reject(refused()), () => Promise.resolve(trailersOnly(0))]);
    expect((await layer(t.handler)(makeCall('a'))).end?.status).toBe(0);
    expect(events.count('shadow:retry_budget:a:exhausted')).toBe(1);
    expect(events.count('budget:a')).toBe(0);
  });

  it('shadow retries: counted, never made', async () => {
    const { layer, events } = setup('defaults:\n  retry: { mode: shadow }\n');
    const t = scripted([() => Promise.reject(refused()), () => Promise.resolve(trailersOnly(0))]);
    await expect(layer(t.handler)(makeCall('a'))).rejects.toMatchObject({ code: 'ERR_UPSTREAM_REFUSED_STREAM' });
    expect(t.seen).toHaveLength(1);
    expect(events.count('shadow:retry:a:never_reached_app')).toBe(1);
  });

  it('mode off: not even attempts that never reached the app are retried', async () => {
    const { layer } = setup('defaults:\n  retry: { mode: off }\n');
    const t = scripted([() => Promise.reject(refused())]);
    await expect(layer(t.handler)(makeCall('a'))).rejects.toMatchObject({ code: 'ERR_UPSTREAM_REFUSED_STREAM' });
    expect(t.seen).toHaveLength(1);
  });

  it('limits.maxConcurrentRetries: a retry over the threshold is not made', async () => {
    const { layer, events, states } = setup('defaults:\n  limits: { mode: enforce, maxConcurrentRetries: 0 }\n');
    const t = scripted([() => Promise.reject(refused())]);
    await expect(layer(t.handler)(makeCall('a'))).rejects.toMatchObject({ code: 'ERR_UPSTREAM_REFUSED_STREAM' });
    expect(t.seen).toHaveLength(1);
    expect(events.count('overflow:a:max_retries')).toBe(1);
    expect(states.backend('a').limiter.retriesInflight).toBe(0);
  });

  it('holds a retry slot until the retried attempt\'s reply ends', async () => {
    const { layer, states } = setup('defaults:\n  limits: { mode: enforce, maxConcurrentRetries: 5 }\n');
    const reply = streaming();
    const t = scripted([() => Promise.reject(refused()), () => Promise.resolve(reply)]);
    await layer(t.handler)(makeCall('a'));
    expect(states.backend('a').limiter.retriesInflight).toBe(1);
    reply.finish({ status: 0, message: undefined, error: undefined });
    expect(states.backend('a').limiter.retriesInflight).toBe(0);
  });

  it('does not retry when the backoff would pass the call\'s deadline', async () => {
    const events = countingEvents();
    const states = new BackendStates(new PolicyStore(policy('defaults:\n  retry: { backoff: { baseMs: 1000, maxMs: 1000 } }\n')), { events });
    const layer = retryLayer({ states, events, random: () => 0.5 });
    const call = makeCall('a');
    call.deadlineMs = performance.now() + 100;
    const t = scripted([() => Promise.reject(refused())]);
    await expect(layer(t.handler)(call)).rejects.toMatchObject({ code: 'ERR_UPSTREAM_REFUSED_STREAM' });
    expect(t.seen).toHaveLength(1);
    expect(events.count('giveUp:a:deadline')).toBe(1);
  });

  it('a per-try timeout cancels only that attempt (its own call) and retries; the last one ends with DEADLINE_EXCEEDED', async () => {
    vi.useFakeTimers();
    const { layer, events } = setup('defaults:\n  retry: { perTryTimeoutMs: 50, maxRetries: 1 }\n');
    const attempts: ProxyCall[] = [];
    // Each attempt hangs until it is cancelled, as forward does: it rejects with the cancel reason.
    const hang: Handler = (call) => {
      attempts.push(call);
      call.endpoint = `10.0.0.${attempts.length}:80`;
      return new Promise((_, reject) => call.onCancel(reject));
    };
    const call = makeCall('a');
    const result = layer(hang)(call).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(50);
    await vi.advanceTimersByTimeAsync(1); // the backoff (0 ms with random() = 0)
    expect(attempts).toHaveLength(2);
    expect(attempts[0]).toBeInstanceOf(AttemptCall);
    expect(attempts[0]?.cancelled?.code).toBe('ERR_RETRY_PER_TRY_TIMEOUT');
    expect(call.cancelled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(50);
    expect(await result).toMatchObject({ code: 'ERR_RETRY_PER_TRY_TIMEOUT', grpcStatus: Status.DEADLINE_EXCEEDED });
    expect(events.count('retry:a:per_try_timeout')).toBe(1);
    expect(call.endpoint).toBe('10.0.0.2:80');
  });

  it('a cancel of the call reaches the attempt in flight and is never retried', async () => {
    const { layer } = setup('defaults:\n  retry: { perTryTimeoutMs: 10000 }\n');
    const attempts: ProxyCall[] = [];
    const hang: Handler = (call) => {
      attempts.push(call);
      return new Promise((_, reject) => call.onCancel(reject));
    };
    const call = makeCall('a');
    const result = layer(hang)(call).catch((e: unknown) => e);
    await Promise.resolve();
    call.cancel(new ProxyError('ERR_DOWNSTREAM_CANCELLED', 'gone'));
    expect(await result).toMatchObject({ code: 'ERR_DOWNSTREAM_CANCELLED' });
    expect(attempts).toHaveLength(1);
  });
});
