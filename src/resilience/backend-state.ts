// SPDX-License-Identifier: Apache-2.0
// The resilience state of each backend (concurrency limiter, failure-rate breaker, retry budget, outlier
// detector), configured by the current policy. Created on first use; a policy swap reconfigures it in place, so
// counts, windows and ejections carry over by key (backend name, endpoint address). No I/O, no timers; the clock
// and randomness are injected. The layers in proxy/layers/ (circuit-breaker, retry, outlier) drive it.

import { performance } from 'node:perf_hooks';
import type { CallEnd } from '../grpc/call.js';
import type { BackendPolicy } from '../policy/match.js';
import type { PolicyStore } from '../policy/store.js';
import { createFailureRateBreaker, type FailureRateBreaker, type FailureRateBreakerPolicy } from './circuit-breaker.js';
import { createConcurrencyLimiter, type ConcurrencyLimiter } from './concurrency.js';
import { NO_EVENTS, type ResilienceEvents } from './events.js';
import { createOutlierDetector, type OutlierDetector } from './outlier.js';
import { outcomeOfEnd } from './outcome.js';
import { createRetryBudget, type RetryBudget, type RetryBudgetPolicy } from './retry-budget.js';

export interface BackendStatesOptions {
  /** Where breaker state changes are reported; default none. */
  readonly events?: ResilienceEvents;
  /** Uniform in [0, 1) (penalty jitter); default Math.random. */
  readonly random?: () => number;
  /** Monotonic ms; default performance.now(). */
  readonly now?: () => number;
}

/**
 * The resilience state of one backend, configured by the current policy. The `end*` members are listeners bound
 * once per backend, so the layers register them on each reply without allocating a closure per call.
 */
export class BackendResilience {
  readonly name: string;
  policy: BackendPolicy;
  readonly limiter: ConcurrencyLimiter;
  readonly breaker: FailureRateBreaker;
  readonly budget: RetryBudget;
  readonly outlier: OutlierDetector;
  private readonly now: () => number;

  constructor(name: string, policy: BackendPolicy, opts: Required<BackendStatesOptions>) {
    this.name = name;
    this.policy = policy;
    this.now = opts.now;
    const events = opts.events;
    this.limiter = createConcurrencyLimiter(policy.limits);
    this.breaker = createFailureRateBreaker(breakerShape(policy), (state) => events.onBreakerState?.(name, state));
    this.budget = createRetryBudget(budgetShape(policy));
    this.outlier = createOutlierDetector(policy.outlierDetection, opts.random);
  }

  /** Releases a concurrency slot when the attempt's reply ends. */
  readonly endSlot = (): void => this.limiter.release();
  /** Releases a retry slot when the retried attempt's reply ends. */
  readonly endRetrySlot = (): void => this.limiter.releaseRetry();
  /** Feeds the failure-rate window with how an admitted attempt ended. */
  readonly endBreakerCall = (end: CallEnd): void => this.breaker.record(outcomeOfEnd(end), this.now());
  /** Ends the half-open probe. */
  readonly endBreakerProbe = (end: CallEnd): void => this.breaker.recordProbe(outcomeOfEnd(end), this.now());

  /** @internal Applies a new policy; counts, windows and ejections carry over. */
  reconfigure(policy: BackendPolicy): void {
    this.policy = policy;
    this.limiter.reconfigure(policy.limits);
    this.breaker.reconfigure(breakerShape(policy));
    this.budget.reconfigure(budgetShape(policy));
    this.outlier.reconfigure(policy.outlierDetection);
  }
}

function breakerShape(p: BackendPolicy): FailureRateBreakerPolicy {
  return p.circuitBreaker;
}

function budgetShape(p: BackendPolicy): RetryBudgetPolicy {
  const b = p.retryBudget;
  return { ratio: b.retryPercent / 100, minRetriesPerSecond: b.minRetriesPerSecond, ttlMs: b.ttlMs };
}

/**
 * The per-backend resilience state governed by one policy store.
 *
 * Swap protocol: the constructor registers a swap listener on `policy`, so every swap reconfigures each existing
 * backend state with its new effective settings before the listeners registered later run (the outlier adapter
 * restores endpoints whose detection was switched off; create this before such listeners). A call in flight keeps
 * what it already decided (its admitted slot); its later decisions read the reconfigured state.
 */
export class BackendStates {
  /** The policy store whose snapshot configures the state; layers read routes from it too. */
  readonly policy: PolicyStore;
  private readonly states = new Map<string, BackendResilience>();
  private readonly opts: Required<BackendStatesOptions>;

  constructor(policy: PolicyStore, opts: BackendStatesOptions = {}) {
    this.policy = policy;
    this.opts = {
      events: opts.events ?? NO_EVENTS,
      random: opts.random ?? Math.random,
      now: opts.now ?? (() => performance.now()),
    };
    policy.onSwap((next) => {
      for (const s of this.states.values()) s.reconfigure(next.backend(s.name).policy);
    });
  }

  /** The state of `backend`, created on first use with the settings in force. */
  backend(name: string): BackendResilience {
    let s = this.states.get(name);
    if (s === undefined) {
      s = new BackendResilience(name, this.policy.current().backend(name).policy, this.opts);
      this.states.set(name, s);
    }
    return s;
  }

  /** Every backend state created so far. */
  backends(): IterableIterator<BackendResilience> {
    return this.states.values();
  }
}
