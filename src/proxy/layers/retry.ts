// SPDX-License-Identifier: Apache-2.0
// retry (outbound): sends a failed attempt again, per the call's policy route. Above `circuit-breaker` and
// `balance`, so every retry is admitted like a request and picks an endpoint (a different one when another is
// ready: AVOID_ENDPOINTS). Owns every re-send on the outbound side, including the always-safe re-send of attempts
// that never reached the app (balance picks once per attempt), so all of them are bounded by one retry limit, one
// budget and one concurrent-retry threshold. Per call it runs the state machine described at `retrying`.
//
// An attempt is retried only while nothing went downstream: a rejection, or a Trailers-Only reply whose status
// is in `retryOn`. A reply with response headers is committed and returned as it is, whatever its trailers say.
//
// gRFC A6 (github.com/grpc/proposal/blob/master/A6-client-retries.md) on the wire: every re-sent attempt carries
// `grpc-previous-rpc-attempts` (the number of attempts before it: none on the first, 1 on the second, ...; added to
// the count the client already sent, when it retries itself), and a retryable Trailers-Only reply's
// `grpc-retry-pushback-ms` replaces the backoff: a non-negative value is the delay before the retry, after which
// the backoff starts over from `baseMs` ("retry delay will reset to initial backoff"); a negative or malformed one
// means no retry. Pushback never lifts a bound: the deadline, maxRetries, the budget and the limits still apply.

import { fullJitterDelayMs } from '../../resilience/backoff.js';
import { type ErrorCode, ProxyError, toProxyError } from '../../errors.js';
import type { RetryPolicy } from '../../policy/match.js';
import type { BackendResilience, BackendStates } from '../../resilience/backend-state.js';
import { NO_EVENTS, type ResilienceEvents, type RetryGiveUp, type RetryReason } from '../../resilience/events.js';
import { type CancelTarget, ProxyCall, type ProxyReply } from '../call.js';
import type { ContextKey } from '../../grpc/call.js';
import type { HeaderEdits } from '../../h2/headers.js';
import { parsePreviousAttempts, parsePushback, PREVIOUS_RPC_ATTEMPTS, type Pushback, RETRY_PUSHBACK_MS } from '../../grpc/retry-metadata.js';
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
 * retry its own overflow either). ERR_DEADLINE_EXCEEDED is the whole call's deadline: nothing is left for a retry;
 * ERR_UNARY_TIMEOUT and ERR_STREAM_IDLE_TIMEOUT end the whole call the same way.
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
  'ERR_UNARY_TIMEOUT',
  'ERR_STREAM_IDLE_TIMEOUT',
  'ERR_INTERNAL',
]);

const NO_PUSHBACK: Pushback = parsePushback(undefined);

/** The states of one call's retries; the transitions are described at `retrying` in `retryLayer`. */
type RetryState = 'attempt' | 'settle' | 'judge' | 'backoff';

/** True for a reply that may be retried: Trailers-Only (nothing went downstream) with a status in `retryOn`. */
function retryableReply(reply: ProxyReply, retry: RetryPolicy): boolean {
  const status = reply.end?.status;
  return reply.trailersOnly && status !== undefined && ((1 << status) & retry.retryOnMask) !== 0;
}

/** Why a rejected attempt may be retried; undefined when it may not. */
function retryReasonOf(e: ProxyError, retry: RetryPolicy): RetryReason | undefined {
  if (e.code === 'ERR_RETRY_PER_TRY_TIMEOUT') return 'per_try_timeout';
  if (NOT_RETRIED.has(e.code)) return undefined;
  if (e.neverReachedApp) return 'never_reached_app';
  return ((1 << e.grpcStatus) & retry.retryOnMask) !== 0 ? 'status' : undefined;
}

/**
 * The retry layer. Per call: with the route's `retry.mode` off it only looks the route up; otherwise it runs the
 * state machine described at `retrying` below. Re-entrant: all per-call state lives in that call's frame.
 */
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

    /**
     * One call's retries as a state machine (`RetryState`):
     * 1. `attempt`: send the call down the chain (as an AttemptCall when `perTryTimeoutMs` is set); the reply or
     *    the rejection is the attempt's outcome. Go to `settle`.
     * 2. `settle`, the single release point: the concurrent-retry slot the attempt held (taken in `judge`) is given
     *    back here and nowhere else: when the reply ends for a committed reply (the retry is in flight until
     *    then), at once for anything else. Then: a committed reply (response headers, or a Trailers-Only status
     *    not in `retryOn`) is the answer; a rejection without a retry reason, or any rejection once the call itself
     *    is cancelled (client gone, deadline), ends the call with that reason; a retryable failure goes to `judge`.
     *    A retryable reply's pushback (gRFC A6) is read here.
     * 3. `judge`: whether to retry now (`decide`; it charges the budget), after the server's pushback delay when
     *    it gave one, else after the jittered backoff. No: the failure is the answer. Yes: take a slot when limits
     *    are on, count the retry, go to `backoff`.
     * 4. `backoff`: wait that delay. A cancel meanwhile is the outcome (go to `settle`, which ends the call and
     *    gives the slot back). Otherwise avoid the failed endpoint, release the body the failed attempt may still
     *    hold, mark the next attempt with `grpc-previous-rpc-attempts`, and go to `attempt`.
     */
    async function retrying(call: ProxyCall, name: string, retry: RetryPolicy): Promise<ProxyReply> {
      const rs = states.backend(name);
      if (rs.policy.retryBudget.mode !== 'off') rs.budget.deposit(now());
      let state: RetryState = 'attempt';
      let slot = false;
      let retries = 0;
      /** The last attempt's reply or rejection (or the cancel that ended a backoff). */
      let outcome: ProxyReply | ProxyError | undefined;
      let reason: RetryReason = 'status';
      /** True when a retry needs the whole request buffered: the failed attempt may still hold the body. */
      let needsCompleteBody = false;
      let delayMs = 0;
      /** The server's word on retrying the last attempt (gRFC A6 pushback); only a Trailers-Only reply has one. */
      let pushback: Pushback = NO_PUSHBACK;
      /** The exponent of the next jittered backoff: the retries since the last pushback delay. */
      let backoffStep = 0;
      /** Attempts the client counted before this call reached meshlet (it may retry on its own). */
      const previousByClient = parsePreviousAttempts(call.headers[PREVIOUS_RPC_ATTEMPTS]);
      for (;;) {
        switch (state) {
          case 'attempt':
            try {
              outcome = retry.perTryTimeoutMs > 0 ? await attemptWithTimeout(call, retry.perTryTimeoutMs) : await next(call);
            } catch (err) {
              outcome = toProxyError(err);
            }
            state = 'settle';
            break;

          case 'settle': {
            const failed = outcome;
            if (failed === undefined) throw new Error('retry: left the attempt state without an outcome');
            const committed = !(failed instanceof ProxyError) && !retryableReply(failed, retry);
            if (slot) {
              slot = false;
              if (committed) failed.onEnd(rs.endRetrySlot);
              else rs.limiter.releaseRetry();
            }
            if (committed) return failed;
            if (failed instanceof ProxyError) {
              const why = call.cancelled === undefined ? retryReasonOf(failed, retry) : undefined;
              if (why === undefined) throw call.cancelled ?? failed;
              reason = why;
              needsCompleteBody = why === 'per_try_timeout';
              pushback = NO_PUSHBACK;
            } else {
              reason = 'status';
              needsCompleteBody = true;
              pushback = parsePushback(failed.headers[RETRY_PUSHBACK_MS] as string | string[] | undefined);
            }
            state = 'judge';
            break;
          }

          case 'judge': {
            const failed = outcome;
            if (failed === undefined) throw new Error('retry: left the attempt state without an outcome');
            delayMs = pushback.kind === 'delay' ? pushback.delayMs : fullJitterDelayMs(backoffStep, retry.backoff, random);
            const verdict = decide(call, rs, retry, retries, reason, needsCompleteBody, delayMs, pushback);
            if (verdict !== 'retry' && verdict !== 'retry-with-slot') {
              if (verdict !== 'budget' && verdict !== 'limit' && verdict !== 'shadow') events.onRetryGiveUp?.(name, verdict);
              if (failed instanceof ProxyError) throw failed;
              return failed;
            }
            if (verdict === 'retry-with-slot') {
              rs.limiter.forceAcquireRetry();
              slot = true;
            }
            retries++;
            events.onRetry?.(name, reason);
            if (pushback.kind === 'delay') {
              events.onRetryPushback?.(name, delayMs);
              backoffStep = 0;
            } else backoffStep++;
            state = 'backoff';
            break;
          }

          case 'backoff':
            try {
              await backoff(call, delayMs);
            } catch (err) {
              outcome = toProxyError(err);
              state = 'settle';
              break;
            }
            avoidLastEndpoint(call);
            if (needsCompleteBody) call.body.detach();
            // The call's edits are every AttemptCall's too, so forward sends it on this attempt.
            call.editHeaders().set(PREVIOUS_RPC_ATTEMPTS, String(previousByClient + retries));
            state = 'attempt';
            break;
        }
      }
    }

    /**
     * Whether to retry now: `retry` / `retry-with-slot` (the caller then takes a concurrent-retry slot; the budget
     * is already charged), otherwise why not. Order: the checks that need no state first (a server's pushback that
     * refuses the retry right after a cancel: it is the upstream's own answer), then the shadow switch
     * (so shadow counts only retries that would really have happened), then the concurrent-retry threshold, then
     * the budget. Takes no slot, so a refusal has nothing to give back.
     */
    function decide(
      call: ProxyCall,
      rs: BackendResilience,
      retry: RetryPolicy,
      retries: number,
      reason: RetryReason,
      needsCompleteBody: boolean,
      delayMs: number,
      pushback: Pushback,
    ): RetryGiveUp | 'budget' | 'limit' | 'shadow' | 'retry' | 'retry-with-slot' {
      const name = rs.name;
      if (call.cancelled !== undefined) return 'cancelled';
      if (pushback.kind === 'stop') return 'pushback';
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
      if (limits.mode === 'enforce') {
        if (rs.limiter.retriesInflight >= limits.maxConcurrentRetries) {
          events.onOverflow?.(name, 'max_retries');
          return 'limit';
        }
      } else if (limits.mode === 'shadow') {
        if (rs.limiter.retriesInflight >= limits.maxConcurrentRetries) events.onShadow?.('limits', name, 'max_retries');
      }
      if (budget.mode === 'enforce') {
        if (!rs.budget.tryWithdraw(t)) {
          events.onBudgetExhausted?.(name);
          return 'budget';
        }
      } else if (budget.mode === 'shadow') {
        if (!rs.budget.forceWithdraw(t)) events.onShadow?.('retry_budget', name, 'exhausted');
      }
      return limits.mode === 'off' ? 'retry' : 'retry-with-slot';
    }
  };
}

/** Asks balance to pick another endpoint than the one the failed attempt went to (when another is ready). */
function avoidLastEndpoint(call: ProxyCall): void {
  if (call.endpoint === undefined) return;
  let avoid = call.get(AVOID_ENDPOINTS);
  if (avoid === undefined) {
    avoid = new Set();
    call.set(AVOID_ENDPOINTS, avoid);
  }
  avoid.add(call.endpoint);
}

/**
 * One attempt of a call that has a per-try timeout: shares the call's headers and their edits, body, peer and
 * context (reads fall back to the call's values), but has its own cancellation, so the per-try timer can cancel
 * this attempt alone (forward resets its upstream stream). A cancel of the call itself reaches the attempt (it is the call's cancel
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

  /** Every attempt sends the call's edits (the retry count, the trace context); forward sets grpc-timeout in them. */
  override editHeaders(): HeaderEdits {
    return this.parent.editHeaders();
  }

  override get headerEdits(): HeaderEdits | undefined {
    return this.parent.headerEdits;
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
