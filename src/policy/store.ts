// SPDX-License-Identifier: Apache-2.0
// The current policy and the resilience state it governs. Layers read `store.current()` per call; a reload swaps
// the compiled policy atomically and reconfigures the per-backend state in place, so breakers, budgets, limiters
// and ejections carry over by key (backend name, endpoint address). Pure: no I/O, no timers.

import { performance } from 'node:perf_hooks';
import { createFailureRateBreaker, type FailureRateBreaker, type FailureRateBreakerPolicy } from '../resilience/circuit-breaker.js';
import { createConcurrencyLimiter, type ConcurrencyLimiter } from '../resilience/concurrency.js';
import { NO_EVENTS, type ResilienceEvents } from '../resilience/events.js';
import { createOutlierDetector, type OutlierDetector } from '../resilience/outlier.js';
import { outcomeOfEnd } from '../resilience/outcome.js';
import { createRetryBudget, type RetryBudget, type RetryBudgetPolicy } from '../resilience/retry-budget.js';
import type { CallEnd } from '../grpc/call.js';
import { CompiledPolicy, type BackendPolicy } from './match.js';
import type { Policy } from './schema.js';

export interface PolicyStoreOptions {
  readonly events?: ResilienceEvents;
  /** Uniform in [0, 1) (penalty jitter); default Math.random. */
  readonly random?: () => number;
  /** Monotonic ms; default performance.now(). */
  readonly now?: () => number;
}

/** Called after every swap with the new snapshot. */
export type SwapListener = (next: CompiledPolicy, previous: CompiledPolicy) => void;

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

  constructor(name: string, policy: BackendPolicy, opts: Required<PolicyStoreOptions>) {
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
 * Holds the current compiled policy and the per-backend state.
 *
 * Swap protocol: `swap(policy)` compiles first (throws nothing: the policy was validated by the loader), then
 * replaces the snapshot in one assignment, then reconfigures every existing backend state with its new effective
 * settings, then tells the listeners (the outlier adapter restores endpoints whose detection was switched off).
 * A call in flight keeps what it already decided (its admitted slot, its deadline); its later decisions read the
 * new snapshot.
 */
export class PolicyStore {
  private snapshot: CompiledPolicy;
  private readonly states = new Map<string, BackendResilience>();
  private readonly listeners: SwapListener[] = [];
  private readonly opts: Required<PolicyStoreOptions>;
  /** Incremented by every swap. */
  version = 1;

  constructor(policy: Policy, opts: PolicyStoreOptions = {}) {
    this.snapshot = new CompiledPolicy(policy);
    this.opts = {
      events: opts.events ?? NO_EVENTS,
      random: opts.random ?? Math.random,
      now: opts.now ?? (() => performance.now()),
    };
  }

  /** The current compiled policy. Read it per call; never keep it across calls. */
  current(): CompiledPolicy {
    return this.snapshot;
  }

  /** The state of `backend`, created on first use with the current settings. */
  backend(name: string): BackendResilience {
    let s = this.states.get(name);
    if (s === undefined) {
      s = new BackendResilience(name, this.snapshot.backend(name).policy, this.opts);
      this.states.set(name, s);
    }
    return s;
  }

  /** Every backend state created so far. */
  backends(): IterableIterator<BackendResilience> {
    return this.states.values();
  }

  /** Replaces the policy atomically; state carries over by backend name. */
  swap(policy: Policy): void {
    const previous = this.snapshot;
    const next = new CompiledPolicy(policy);
    this.snapshot = next;
    this.version++;
    for (const s of this.states.values()) s.reconfigure(next.backend(s.name).policy);
    for (const l of this.listeners) l(next, previous);
  }

  /** Registers a listener for swaps; returns the function that removes it. */
  onSwap(listener: SwapListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }
}
