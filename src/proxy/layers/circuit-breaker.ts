// SPDX-License-Identifier: Apache-2.0
// circuit-breaker (outbound, per attempt, per backend): the failure-rate breaker and the Envoy-style thresholds
// (concurrent attempts, pending attempts) of the call's backend. Sits below `retry`, so every attempt is admitted
// (a retry is a request, as in Envoy's max_requests), and above `balance`, so an attempt waiting for a slot has not
// picked an endpoint yet. Overflow fails the attempt at once with UNAVAILABLE and x-meshlet-error naming the limit;
// shadow mode counts what would have been rejected and lets it through.

import { ProxyError, toProxyError } from '../../errors.js';
import type { BackendResilience, BackendStates } from '../../resilience/backend-state.js';
import type { BreakerTicket } from '../../resilience/circuit-breaker.js';
import type { Admission, SlotWaiter } from '../../resilience/concurrency.js';
import { NO_EVENTS, type ResilienceEvents } from '../../resilience/events.js';
import { outcomeOfError } from '../../resilience/outcome.js';
import type { CancelTarget, ProxyCall, ProxyReply } from '../call.js';
import type { Handler, Layer } from '../layer.js';

export interface CircuitBreakerDeps {
  /** The per-backend limiter and breaker, configured by the current policy. */
  readonly states: BackendStates;
  readonly events?: ResilienceEvents;
  readonly now?: () => number;
}

export function circuitBreakerLayer(deps: CircuitBreakerDeps): Layer {
  const { states } = deps;
  const events = deps.events ?? NO_EVENTS;
  const now = deps.now ?? (() => performance.now());
  return (next: Handler) => {
    /** Runs one admitted attempt; `slot` and `ticket` say what to give back when it ends. */
    const run = async (call: ProxyCall, rs: BackendResilience, slot: boolean, ticket: BreakerTicket | undefined): Promise<ProxyReply> => {
      let reply: ProxyReply;
      try {
        reply = await next(call);
      } catch (err) {
        if (slot) rs.limiter.release();
        if (ticket === 'admit') rs.breaker.record(outcomeOfError(toProxyError(err)), now());
        else if (ticket === 'probe') rs.breaker.recordProbe(outcomeOfError(toProxyError(err)), now());
        throw err;
      }
      if (slot) reply.onEnd(rs.endSlot);
      if (ticket === 'admit') reply.onEnd(rs.endBreakerCall);
      else if (ticket === 'probe') reply.onEnd(rs.endBreakerProbe);
      return reply;
    };

    return (call: ProxyCall): Promise<ProxyReply> => {
      const name = call.backend ?? '';
      const rs = states.backend(name);
      const { limits, circuitBreaker } = rs.policy;
      if (limits.mode === 'off' && circuitBreaker.mode === 'off') return next(call);

      // 1. The failure-rate breaker: an open breaker rejects before the attempt takes a slot.
      let ticket: BreakerTicket | undefined;
      if (circuitBreaker.mode !== 'off') {
        ticket = rs.breaker.admit(now());
        if (ticket === 'reject') {
          if (circuitBreaker.mode === 'enforce') {
            events.onBreakerReject?.(name);
            return Promise.reject(new ProxyError('ERR_CIRCUIT_OPEN', `circuit breaker of "${name}" is open`, { neverReachedApp: true }));
          }
          events.onShadow?.('circuit_breaker', name, 'open');
          // Shadow: the call goes on, but an enforcing breaker would not have sent it, so its outcome is not sampled.
          ticket = undefined;
        }
      }
      if (limits.mode === 'off') return run(call, rs, false, ticket);

      // 2. The thresholds.
      if (limits.mode === 'shadow') {
        const would = rs.limiter.evaluate();
        if (would === 'max_requests' || would === 'max_pending') events.onShadow?.('limits', name, would);
        rs.limiter.forceAcquire();
        return run(call, rs, true, ticket);
      }
      const waiter = limits.maxPendingRequests > 0 ? new PendingAttempt(call) : undefined;
      const admission = rs.limiter.tryAcquire(waiter);
      if (admission === 'admitted') return run(call, rs, true, ticket);
      if (admission === 'queued') return (waiter as PendingAttempt).wait(rs).then(() => run(call, rs, true, ticket), (err: unknown) => {
        giveBackProbe(rs, ticket);
        throw err;
      });
      giveBackProbe(rs, ticket);
      events.onOverflow?.(name, admission);
      return Promise.reject(overflowError(name, admission, limits.maxConcurrentRequests, limits.maxPendingRequests));
    };
  };
}

/** A probe that never ran must not leave the breaker half-open with a probe "in flight" forever. */
function giveBackProbe(rs: BackendResilience, ticket: BreakerTicket | undefined): void {
  if (ticket === 'probe') rs.breaker.recordProbe('neutral', 0);
}

function overflowError(name: string, admission: Exclude<Admission, 'admitted' | 'queued'>, maxRequests: number, maxPending: number): ProxyError {
  return admission === 'max_requests'
    ? new ProxyError('ERR_LIMIT_MAX_REQUESTS', `"${name}" has ${maxRequests} requests in flight (limits.maxConcurrentRequests)`, { neverReachedApp: true })
    : new ProxyError('ERR_LIMIT_MAX_PENDING', `"${name}" has ${maxPending} requests waiting (limits.maxPendingRequests)`, { neverReachedApp: true });
}

/**
 * An attempt waiting in the backend's FIFO for a slot. It ends when the limiter hands it a slot (`admit`) or the
 * call is cancelled (client gone, deadline) first; a slot handed over after the cancel is given back at once.
 * Allocated only when pending requests are allowed and the backend is full.
 */
class PendingAttempt implements SlotWaiter, CancelTarget {
  private resolve: (() => void) | undefined;
  private reject: ((e: ProxyError) => void) | undefined;
  private rs: BackendResilience | undefined;
  private done = false;

  constructor(private readonly call: ProxyCall) {}

  wait(rs: BackendResilience): Promise<void> {
    this.rs = rs;
    return new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.call.addCancelTarget(this);
    });
  }

  admit(): void {
    if (this.done) {
      // Unreachable while cancel() takes a cancelled waiter out of the queue; never leak the slot regardless
      // (deferred: the limiter is not re-entrant inside admit()).
      const rs = this.rs;
      if (rs !== undefined) queueMicrotask(rs.endSlot);
      return;
    }
    this.done = true;
    this.call.removeCancelTarget(this);
    this.resolve?.();
  }

  handleCancel(reason: ProxyError): void {
    if (this.done) return;
    this.done = true;
    this.rs?.limiter.cancel(this);
    this.reject?.(reason);
  }
}
