// SPDX-License-Identifier: Apache-2.0
// The retry layer's concurrent-retry slot: every slot a retry takes is given back exactly once, on every way a
// call can leave the retry state machine, and a committed reply keeps its slot until it ends.
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../../../src/errors.js';
import { Status } from '../../../../src/grpc/status.js';
import { PolicyStore } from '../../../../src/policy/store.js';
import type { ProxyCall, ProxyReply } from '../../../../src/proxy/call.js';
import type { Handler } from '../../../../src/proxy/layer.js';
import { retryLayer } from '../../../../src/proxy/layers/retry.js';
import { BackendStates } from '../../../../src/resilience/backend-state.js';
import type { ResilienceEvents } from '../../../../src/resilience/events.js';
import { makeCall, policy, streaming, trailersOnly } from './resilience-harness.js';

const refused = () => new ProxyError('ERR_UPSTREAM_REFUSED_STREAM', 'refused', { neverReachedApp: true });
const cancelled = () => new ProxyError('ERR_DOWNSTREAM_CANCELLED', 'client went away');

const LIMITS = 'defaults:\n  limits: { mode: enforce, maxConcurrentRetries: 10 }\n';

/** A retry layer over backend "a" whose limiter counts the retry slots taken and given back. */
function setup(yaml: string, opts: { events?: ResilienceEvents; now?: () => number } = {}) {
  const states = new BackendStates(new PolicyStore(policy(yaml)));
  const limiter = states.backend('a').limiter;
  const ledger = { taken: 0, released: 0 };
  const { tryAcquireRetry, forceAcquireRetry, releaseRetry } = limiter;
  limiter.tryAcquireRetry = () => {
    const ok = tryAcquireRetry();
    if (ok) ledger.taken++;
    return ok;
  };
  limiter.forceAcquireRetry = () => {
    forceAcquireRetry();
    ledger.taken++;
  };
  limiter.releaseRetry = () => {
    ledger.released++;
    releaseRetry();
  };
  const layer = retryLayer({ states, events: opts.events, now: opts.now, random: () => 0 });
  return { layer, ledger, limiter };
}

/** A terminal that plays `script`, one step per attempt (the last step repeats). */
function scripted(script: Array<(call: ProxyCall) => Promise<ProxyReply>>): Handler & { attempts: number } {
  const handler = Object.assign(
    (call: ProxyCall) => {
      const step = script[Math.min(handler.attempts, script.length - 1)] as (call: ProxyCall) => Promise<ProxyReply>;
      handler.attempts++;
      call.endpoint = `10.0.0.${handler.attempts}:80`;
      return step(call);
    },
    { attempts: 0 },
  );
  return handler;
}

describe('retry slot accounting', () => {
  it('success: a committed reply after a retry keeps its slot until the reply ends, then gives it back once', async () => {
    const { layer, ledger, limiter } = setup(LIMITS);
    const reply = streaming();
    const t = scripted([() => Promise.reject(refused()), () => Promise.resolve(reply)]);
    expect(await layer(t)(makeCall('a'))).toBe(reply);
    expect(ledger).toEqual({ taken: 1, released: 0 });
    expect(limiter.retriesInflight).toBe(1);
    reply.finish({ status: 0, message: undefined, error: undefined });
    expect(ledger).toEqual({ taken: 1, released: 1 });
    expect(limiter.retriesInflight).toBe(0);
  });

  it('retryable failures then success: each retry gives its slot back before the next is taken', async () => {
    const { layer, ledger, limiter } = setup(`${LIMITS}  retry: { retryOn: [unavailable] }\n`);
    const inflightAtAttempt: number[] = [];
    const t = scripted([
      () => Promise.reject(refused()),
      () => {
        inflightAtAttempt.push(limiter.retriesInflight);
        return Promise.resolve(trailersOnly(Status.UNAVAILABLE));
      },
      () => {
        inflightAtAttempt.push(limiter.retriesInflight);
        return Promise.resolve(trailersOnly(0));
      },
    ]);
    expect((await layer(t)(makeCall('a'))).end?.status).toBe(0);
    expect(t.attempts).toBe(3);
    expect(inflightAtAttempt).toEqual([1, 1]);
    expect(ledger).toEqual({ taken: 2, released: 2 });
    expect(limiter.retriesInflight).toBe(0);
  });

  it('budget exhausted: the failed retry gives its slot back and no new one is taken', async () => {
    const { layer, ledger, limiter } = setup(`${LIMITS}  retryBudget: { retryPercent: 100, minRetriesPerSecond: 0 }\n`);
    const t = scripted([() => Promise.reject(refused())]);
    await expect(layer(t)(makeCall('a'))).rejects.toMatchObject({ code: 'ERR_UPSTREAM_REFUSED_STREAM' });
    // One deposit buys one retry: attempt, retry, then the budget refuses.
    expect(t.attempts).toBe(2);
    expect(ledger).toEqual({ taken: 1, released: 1 });
    expect(limiter.retriesInflight).toBe(0);
  });

  it('cancel during the backoff: the slot taken for the retry is given back once', async () => {
    const call = makeCall('a');
    const events: ResilienceEvents = { onRetry: () => queueMicrotask(() => call.cancel(cancelled())) };
    const { layer, ledger, limiter } = setup(`${LIMITS}  retry: { backoff: { baseMs: 1000, maxMs: 1000 } }\n`, { events });
    const t = scripted([() => Promise.reject(refused())]);
    await expect(layer(t)(call)).rejects.toMatchObject({ code: 'ERR_DOWNSTREAM_CANCELLED' });
    expect(t.attempts).toBe(1);
    expect(ledger).toEqual({ taken: 1, released: 1 });
    expect(limiter.retriesInflight).toBe(0);
  });

  it('cancel during the retried attempt: its slot is given back once', async () => {
    const { layer, ledger, limiter } = setup(LIMITS);
    const call = makeCall('a');
    const t = scripted([
      () => Promise.reject(refused()),
      (attempt) => {
        // As forward does: the attempt rejects with the cancel reason.
        const hung = new Promise<ProxyReply>((_, reject) => attempt.onCancel(reject));
        queueMicrotask(() => call.cancel(cancelled()));
        return hung;
      },
    ]);
    await expect(layer(t)(call)).rejects.toMatchObject({ code: 'ERR_DOWNSTREAM_CANCELLED' });
    expect(t.attempts).toBe(2);
    expect(ledger).toEqual({ taken: 1, released: 1 });
    expect(limiter.retriesInflight).toBe(0);
  });

  it('deadline: the retry that fails too close to the deadline gives its slot back and takes no other', async () => {
    let t0 = 0;
    const { layer, ledger, limiter } = setup(LIMITS, { now: () => t0 });
    const call = makeCall('a');
    call.deadlineMs = 100;
    const t = scripted([
      () => Promise.reject(refused()),
      () => {
        t0 = 100;
        return Promise.reject(refused());
      },
    ]);
    await expect(layer(t)(call)).rejects.toMatchObject({ code: 'ERR_UPSTREAM_REFUSED_STREAM' });
    expect(t.attempts).toBe(2);
    expect(ledger).toEqual({ taken: 1, released: 1 });
    expect(limiter.retriesInflight).toBe(0);
  });

  it('throw: a retried attempt that fails with an error no retry can fix gives its slot back once', async () => {
    const { layer, ledger, limiter } = setup(LIMITS);
    const t = scripted([() => Promise.reject(refused()), () => Promise.reject(new Error('boom'))]);
    await expect(layer(t)(makeCall('a'))).rejects.toMatchObject({ code: 'ERR_INTERNAL' });
    expect(t.attempts).toBe(2);
    expect(ledger).toEqual({ taken: 1, released: 1 });
    expect(limiter.retriesInflight).toBe(0);
  });
});
