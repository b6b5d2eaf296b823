// SPDX-License-Identifier: Apache-2.0
// The circuit-breaker layer over a stub terminal: thresholds (fail fast, pending queue), failure-rate breaker,
// shadow mode counting without rejecting, and no work at all when off.
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../../../src/errors.js';
import { PolicyStore } from '../../../../src/policy/store.js';
import { BackendStates } from '../../../../src/resilience/backend-state.js';
import type { ProxyReply } from '../../../../src/proxy/call.js';
import { Status } from '../../../../src/grpc/status.js';
import type { Handler } from '../../../../src/proxy/layer.js';
import { circuitBreakerLayer } from '../../../../src/proxy/layers/circuit-breaker.js';
import { countingEvents, makeCall, policy, streaming, trailersOnly } from './resilience-harness.js';

function setup(yaml: string) {
  const events = countingEvents();
  let t = 0;
  const states = new BackendStates(new PolicyStore(policy(yaml)), { events, now: () => t });
  const layer = circuitBreakerLayer({ states, events, now: () => t });
  return { states, events, layer, advance: (ms: number) => (t += ms) };
}

/** A terminal whose replies stay open until the test ends them. */
function open() {
  const replies: ProxyReply[] = [];
  const handler: Handler = () => {
    const r = streaming();
    replies.push(r);
    return Promise.resolve(r);
  };
  const end = (i: number, status = 0) => replies[i]?.finish({ status, message: undefined, error: undefined });
  return { handler, replies, end };
}

describe('circuitBreakerLayer: thresholds', () => {
  it('fails the attempt over maxConcurrentRequests at once with UNAVAILABLE naming the limit; a slot frees when a reply ends', async () => {
    const { layer, events } = setup('defaults:\n  limits: { mode: enforce, maxConcurrentRequests: 2 }\n');
    const t = open();
    const h = layer(t.handler);
    await h(makeCall('a'));
    await h(makeCall('a'));
    const err = await h(makeCall('a')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProxyError);
    expect(err).toMatchObject({ code: 'ERR_LIMIT_MAX_REQUESTS', grpcStatus: Status.UNAVAILABLE, neverReachedApp: true });
    expect(events.count('overflow:a:max_requests')).toBe(1);
    t.end(0);
    await expect(h(makeCall('a'))).resolves.toBeDefined();
    expect(t.replies).toHaveLength(3);
  });

  it('lets maxPendingRequests attempts wait in order for a slot, and fails the next with ERR_LIMIT_MAX_PENDING', async () => {
    const { layer, events } = setup('defaults:\n  limits: { mode: enforce, maxConcurrentRequests: 1, maxPendingRequests: 1 }\n');
    const t = open();
    const h = layer(t.handler);
    await h(makeCall('a'));
    const waiting = h(makeCall('a'));
    await expect(h(makeCall('a'))).rejects.toMatchObject({ code: 'ERR_LIMIT_MAX_PENDING' });
    expect(events.count('overflow:a:max_pending')).toBe(1);
    expect(t.replies).toHaveLength(1);
    t.end(0);
    await waiting;
    expect(t.replies).toHaveLength(2);
  });

  it('a waiting attempt whose call is cancelled leaves the queue with the cancel reason', async () => {
    const { layer, states } = setup('defaults:\n  limits: { mode: enforce, maxConcurrentRequests: 1, maxPendingRequests: 5 }\n');
    const t = open();
    const h = layer(t.handler);
    await h(makeCall('a'));
    const call = makeCall('a');
    const waiting = h(call).catch((e: unknown) => e);
    call.cancel(new ProxyError('ERR_DEADLINE_EXCEEDED', 'late'));
    expect(await waiting).toMatchObject({ code: 'ERR_DEADLINE_EXCEEDED' });
    expect(states.backend('a').limiter.pending).toBe(0);
    t.end(0);
    expect(states.backend('a').limiter.inflight).toBe(0);
  });

  it('releases the slot of an attempt that failed before any reply', async () => {
    const { layer, states } = setup('defaults:\n  limits: { mode: enforce, maxConcurrentRequests: 1 }\n');
    const h = layer(() => Promise.reject(new ProxyError('ERR_UPSTREAM_CONNECT', 'refused', { neverReachedApp: true })));
    await expect(h(makeCall('a'))).rejects.toMatchObject({ code: 'ERR_UPSTREAM_CONNECT' });
    expect(states.backend('a').limiter.inflight).toBe(0);
  });

  it('shadow: every attempt goes through, the ones over the limit are counted', async () => {
    const { layer, events } = setup('defaults:\n  limits: { mode: shadow, maxConcurrentRequests: 2 }\n');
    const t = open();
    const h = layer(t.handler);
    for (let i = 0; i < 5; i++) await h(makeCall('a'));
    expect(t.replies).toHaveLength(5);
    expect(events.count('shadow:limits:a:max_requests')).toBe(3);
    expect(events.count('overflow:a:max_requests')).toBe(0);
  });

  it('off (the default): no state is touched', async () => {
    const { layer, states } = setup('routes: []\n');
    const t = open();
    await layer(t.handler)(makeCall('a'));
    expect(states.backend('a').limiter.inflight).toBe(0);
  });
});

describe('circuitBreakerLayer: failure-rate breaker', () => {
  const yaml = (mode: string) => `defaults:\n  circuitBreaker: { mode: ${mode}, windowCalls: 4, minimumCalls: 4, failureRatePercent: 50, openMs: 1000 }\n`;

  it('opens after too many failures, fails fast with ERR_CIRCUIT_OPEN, then one probe closes it', async () => {
    const { layer, events, advance } = setup(yaml('enforce'));
    let status: number = Status.UNAVAILABLE;
    let sent = 0;
    const h = layer(() => {
      sent++;
      return Promise.resolve(trailersOnly(status));
    });
    for (let i = 0; i < 4; i++) await h(makeCall('a'));
    expect(events.count('breaker:a:open')).toBe(1);
    await expect(h(makeCall('a'))).rejects.toMatchObject({ code: 'ERR_CIRCUIT_OPEN', grpcStatus: Status.UNAVAILABLE });
    expect(sent).toBe(4);
    expect(events.count('breakerReject:a')).toBe(1);
    advance(1000);
    status = 0;
    await h(makeCall('a'));
    expect(events.count('breaker:a:half-open')).toBe(1);
    expect(events.count('breaker:a:closed')).toBe(1);
    await h(makeCall('a'));
    expect(sent).toBe(6);
  });

  it('counts connection errors as failures and client cancels as nothing', async () => {
    const { layer, events } = setup(yaml('enforce'));
    const h = layer(() => Promise.reject(new ProxyError('ERR_DOWNSTREAM_CANCELLED', 'gone')));
    for (let i = 0; i < 8; i++) await h(makeCall('a')).catch(() => undefined);
    expect(events.count('breaker:a:open')).toBe(0);
    const c = layer(() => Promise.reject(new ProxyError('ERR_UPSTREAM_CONNECT', 'refused', { neverReachedApp: true })));
    for (let i = 0; i < 4; i++) await c(makeCall('a')).catch(() => undefined);
    expect(events.count('breaker:a:open')).toBe(1);
  });

  it('shadow: the breaker opens and is counted, but every call goes through', async () => {
    const { layer, events } = setup(yaml('shadow'));
    let sent = 0;
    const h = layer(() => {
      sent++;
      return Promise.resolve(trailersOnly(Status.INTERNAL));
    });
    for (let i = 0; i < 10; i++) await h(makeCall('a'));
    expect(sent).toBe(10);
    expect(events.count('breaker:a:open')).toBe(1);
    expect(events.count('shadow:circuit_breaker:a:open')).toBe(6);
    expect(events.count('breakerReject:a')).toBe(0);
  });
});
