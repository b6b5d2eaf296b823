// SPDX-License-Identifier: Apache-2.0
// retry (outbound): sends a failed attempt again, per the call's policy route. Above `circuit-breaker` and
// `balance`, so every retry is admitted like a request and picks an endpoint (a different one when another is
// ready: AVOID_ENDPOINTS). Owns every re-send on the outbound side, including the always-safe re-send of attempts
// that never reached the app (balance's own re-send is switched off in this chain), so all of them are bounded by
// one retry limit, one budget and one concurrent-retry threshold.
//
// An attempt is retried only while nothing went downstream: a rejection, or a Trailers-Only reply whose status
// is in `retryOn`. A reply with response headers is committed and returned as it is, whatever its trailers say.

import { fullJitterDelayMs } from '../../resilience/backoff.js';
import { type ErrorCode, ProxyError, toProxyError } from '../../errors.js';
import type { RetryPolicy } from '../../policy/match.js';
import type { BackendResilience, BackendStates } from '../../resilience/backend-state.js';
import { NO_EVENTS, type ResilienceEvents, type RetryGiveUp, type RetryReason } from '../../resilience/events.js';
import { type CancelTarget, ProxyCall, type ProxyReply } from '../call.js';
import type { ContextKey } from '../../grpc/call.js';
import type { Handler, Layer } from '../layer.js';
import { AVOID_ENDPOINTS } from './balance.js';

export interface RetryDeps {
  /** The per-backend limiter and budget, and (through `states.policy`) the route policy. */
  readonly states: BackendStates;
  readonly events?: ResilienceEvents;
  /** Monotonic ms; default performance.now(). */
  readonly now?: () => number;
  /** Uniform in [0, 1) for backoff jitter; default Math.random. */
  readonly random?: () => number;
}

/**
 * meshlet's own decisions and errors no retry can fix: never retried, whatever `retryOn` says (Envoy does not
 * retry its own overflow either). ERR_DEADLINE_EXCEEDED is the whole call's deadline: nothing is left for a retry.
 */
const NOT_RETRIED: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ERR_CIRCUIT_OPEN',
  'ERR_LIMIT_MAX_REQUESTS',
  'ERR_LIMIT_MAX_PENDING',
  'ERR_NO_ENDPOINTS',
  'ERR_UNKNOWN_BACKEND',
  'ERR_BAD_REQUEST',
  'ERR_DRAINING',
  'ERR_DOWNSTREAM_CANCELLED',
  'ERR_DEADLINE_EXCEEDED',
  'ERR_INTERNAL',
]);

/** Why a rejected attempt may be retried; undefined when it may not. */
export function retryReasonOf(e: ProxyError, retry: RetryPolicy): RetryReason | undefined {
  if (e.code === 'ERR_RETRY_PER_TRY_TIMEOUT') return 'per_try_timeout';
  if (NOT_RETRIED.has(e.code)) return undefined;
  if (e.neverReachedApp) return 'never_reached_app';
  return ((1 << e.grpcStatus) & retry.retryOnMask) !== 0 ? 'status' : undefined;
}

export function retryLayer(deps: RetryDeps): Layer {
  const { states } = deps;
  const store = states.policy;
  const events = deps.events ?? NO_EVENTS;
  const now = deps.now ?? (() => performance.now());
  const random = deps.random ?? Math.random;

  return (next: Handler) => {
    /** One attempt with a per-try timeout: a child call, so the timeout cancels this attempt and not the call. */
    const attemptWithTimeout = async (call: ProxyCall, perTryMs: number): Promise<ProxyReply> => {
      const attempt = new AttemptCall(call, perTryMs);
      call.addCancelTarget(attempt);
      const timer = setTimeout(expirePerTry, perTryMs, attempt);
      let reply: ProxyReply | undefined;
      try {
        reply = await next(attempt);
        return reply;
      } finally {
        clearTimeout(timer);
        call.attempts += attempt.attempts;
        call.endpoint = attempt.endpoint;
        // A committed stream keeps listening for the call's cancel (client gone, deadline); others are done.
        if (reply === undefined || reply.trailersOnly) call.removeCancelTarget(attempt);
      }
    };

    // `off` costs the route lookup and nothing else: no async frame, no budget deposit.
    return (call: ProxyCall): Promise<ProxyReply> => {
      const name = call.backend ?? '';
      const retry = store.current().route(name, call.path).policy.retry;
      return retry.mode === 'off' ? next(call) : retrying(call, name, retry);
    };

    async function retrying(call: ProxyCall, name: string, retry: RetryPolicy): Promise<ProxyReply> {
      const rs = states.backend(name);
      if (rs.policy.retryBudget.mode !== 'off') rs.budget.deposit(now());
      let retrySlot = false;
      for (let retries = 0; ; retries++) {
        let failure: ProxyReply | ProxyError;
        let reason: RetryReason | undefined;
        /** True when a retry needs the whole request buffered: the failed attempt may still hold the body. */
        let needsCompleteBody: boolean;
        try {
          const reply = retry.perTryTimeoutMs > 0 ? await attemptWithTimeout(call, retry.perTryTimeoutMs) : await next(call);
          const status = reply.end?.status;
          if (!reply.trailersOnly || status === undefined || ((1 << status) & retry.retryOnMask) === 0) {
            if (retrySlot) reply.onEnd(rs.endRetrySlot);
            return reply;
          }
          failure = reply;
          reason = 'status';
          needsCompleteBody = true;
        } catch (err) {
          const e = toProxyError(err);
          // Once the call itself is cancelled (client gone, deadline), its reason is the answer, whatever the
          // attempt failed with.
          reason = call.cancelled === undefined ? retryReasonOf(e, retry) : undefined;
          if (reason === undefined) {
            if (retrySlot) rs.limiter.releaseRetry();
            throw call.cancelled ?? e;
          }
          failure = e;
          needsCompleteBody = reason === 'per_try_timeout';
        }
        if (retrySlot) {
          rs.limiter.releaseRetry();
          retrySlot = false;
        }

        const delayMs = fullJitterDelayMs(retries, retry.backoff, random);
        const verdict = decide(call, rs, retry, retries, reason, needsCompleteBody, delayMs);
        if (verdict !== 'retry' && verdict !== 'retry-with-slot') {
          if (verdict !== 'budget' && verdict !== 'limit' && verdict !== 'shadow') events.onRetryGiveUp?.(name, verdict);
          if (failure instanceof ProxyError) throw failure;
          return failure;
        }
        retrySlot = verdict === 'retry-with-slot';
        events.onRetry?.(name, reason);
        try {
          await backoff(call, delayMs);
        } catch (err) {
          if (retrySlot) rs.limiter.releaseRetry();
          throw err;
        }
        if (call.endpoint !== undefined) {
          let avoid = call.get(AVOID_ENDPOINTS);
          if (avoid === undefined) {
            avoid = new Set();
            call.set(AVOID_ENDPOINTS, avoid);
          }
          avoid.add(call.endpoint);
        }
        if (needsCompleteBody) call.body.detach();
      }
    }

    /**
     * Whether to retry now: `retry` / `retry-with-slot` (a concurrent-retry slot is then held; the budget is
     * charged), otherwise why not. Order: the checks that need no state first, then the shadow switch (so shadow
     * counts only retries that would really have happened), then the concurrent-retry threshold, then the budget.
     */
    function decide(
      call: ProxyCall,
      rs: BackendResilience,
      retry: RetryPolicy,
      retries: number,
      reason: RetryReason,
      needsCompleteBody: boolean,
      delayMs: number,
    ): RetryGiveUp | 'budget' | 'limit' | 'shadow' | 'retry' | 'retry-with-slot' {
      const name = rs.name;
      if (call.cancelled !== undefined) return 'cancelled';
      if (retries >= retry.maxRetries) return 'max_retries';
      if (!call.body.replayable || (needsCompleteBody && !call.body.complete)) return 'body';
      // The client's deadline (or the route timeout) bounds all attempts: the retry must start before it.
      const t = now();
      if (t + delayMs >= call.deadlineMs) return 'deadline';
      const limits = rs.policy.limits;
      const budget = rs.policy.retryBudget;
      if (retry.mode === 'shadow') {
        const limitOk = limits.mode !== 'enforce' || rs.limiter.retriesInflight < limits.maxConcurrentRetries;
        const budgetOk = budget.mode !== 'enforce' || rs.budget.available(t) >= 1;
        if (limitOk && budgetOk) events.onShadow?.('retry', name, reason);
        return 'shadow';
      }
      let slot = false;
      if (limits.mode === 'enforce') {
        if (!rs.limiter.tryAcquireRetry()) {
          events.onOverflow?.(name, 'max_retries');
          return 'limit';
        }
        slot = true;
      } else if (limits.mode === 'shadow') {
        if (rs.limiter.retriesInflight >= limits.maxConcurrentRetries) events.onShadow?.('limits', name, 'max_retries');
        rs.limiter.forceAcquireRetry();
        slot = true;
      }
      if (budget.mode === 'enforce') {
        if (!rs.budget.tryWithdraw(t)) {
          if (slot) rs.limiter.releaseRetry();
          events.onBudgetExhausted?.(name);
          return 'budget';
        }
      } else if (budget.mode === 'shadow') {
        if (!rs.budget.forceWithdraw(t)) events.onShadow?.('retry_budget', name, 'exhausted');
      }
      return slot ? 'retry-with-slot' : 'retry';
    }
  };
}

/**
 * One attempt of a call that has a per-try timeout: shares the call's headers, body, peer and context (reads fall
 * back to the call's values), but has its own cancellation, so the per-try timer can cancel this attempt alone
 * (forward resets its upstream stream). A cancel of the call itself reaches the attempt (it is the call's cancel
 * target). Allocated per attempt only when `perTryTimeoutMs` is set.
 */
export class AttemptCall extends ProxyCall implements CancelTarget {
  constructor(
    readonly parent: ProxyCall,
    readonly perTryMs: number,
  ) {
    super(parent.direction, parent.headers, parent.body, parent.peer, parent.startMs);
    this.backend = parent.backend;
    this.deadlineMs = parent.deadlineMs;
  }

  override get<T>(key: ContextKey<T>): T | undefined {
    return super.get(key) ?? this.parent.get(key);
  }

  handleCancel(reason: ProxyError): void {
    this.cancel(reason);
  }
}

function expirePerTry(attempt: AttemptCall): void {
  attempt.cancel(
    new ProxyError('ERR_RETRY_PER_TRY_TIMEOUT', `no response headers within retry.perTryTimeoutMs (${attempt.perTryMs} ms)`),
  );
}

/** Waits `delayMs` unless the call is cancelled first (then rejects with the reason). */
function backoff(call: ProxyCall, delayMs: number): Promise<void> {
  if (call.cancelled !== undefined) return Promise.reject(call.cancelled);
  return new Promise<void>((resolve, reject) => new BackoffWait(call, delayMs, resolve, reject));
}

class BackoffWait implements CancelTarget {
  private readonly timer: NodeJS.Timeout;
  constructor(
    private readonly call: ProxyCall,
    delayMs: number,
    private readonly resolve: () => void,
    private readonly reject: (e: ProxyError) => void,
  ) {
    this.timer = setTimeout(BackoffWait.fire, delayMs, this);
    call.addCancelTarget(this);
  }

  static fire(this: void, w: BackoffWait): void {
    w.call.removeCancelTarget(w);
    w.resolve();
  }

  handleCancel(reason: ProxyError): void {
    clearTimeout(this.timer);
    this.reject(reason);
  }
}
