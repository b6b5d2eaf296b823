// SPDX-License-Identifier: Apache-2.0
// timeout: the time limits of the call's policy route.
// - Outbound only, `timeoutMs`: the route timeout, counted from the call's arrival and covering every attempt. It
//   only ever tightens the deadline the `deadline` layer set from grpc-timeout, so the effective deadline is the
//   smaller of the two; forward re-emits what is left as grpc-timeout upstream. Per-try timeouts live in `retry`.
// - Both directions, the two guards of docs/decisions.md §15 (pure logic in resilience/stream-watch.ts):
//   `unaryTimeoutMs` for a call that has no deadline and whose response has not started, and `idleTimeoutMs` for
//   a call that moves no DATA either way. They cancel the call like a deadline does (upstream stream reset with
//   CANCEL, DEADLINE_EXCEEDED downstream) but are never sent upstream as grpc-timeout: a stream must not inherit
//   a unary call's limit.

import { ProxyError } from '../../errors.js';
import type { PolicyStore } from '../../policy/store.js';
import { IDLE_CHECKS_PER_TIMEOUT, StreamWatch, type StreamWatchVerdict } from '../../resilience/stream-watch.js';
import type { ProxyCall, ProxyReply } from '../call.js';
import type { Layer } from '../layer.js';

const routeTimeoutExpired = (): ProxyError => new ProxyError('ERR_DEADLINE_EXCEEDED', 'Deadline exceeded (meshlet route timeout)');

export interface TimeoutDeps {
  readonly store: PolicyStore;
  /**
   * The backend whose policy applies; default `call.backend` (outbound: the route layer sets it). The inbound chain
   * passes its own service name.
   */
  readonly backend?: string;
  /** Apply the route timeout `timeoutMs` (outbound); default true. The inbound chain applies only the guards. */
  readonly routeTimeout?: boolean;
  /** performance.now() unless a test injects a clock. */
  readonly now?: () => number;
}

/** The slowest the guards are swept; a guard with a shorter timeout sweeps at a quarter of it. */
const MAX_SWEEP_MS = 250;

/** With `timeoutMs`, `unaryTimeoutMs` and `idleTimeoutMs` all 0 it does nothing but the route lookup. */
export function timeoutLayer(deps: TimeoutDeps): Layer {
  const { store } = deps;
  const now = deps.now ?? (() => performance.now());
  const routeTimeout = deps.routeTimeout ?? true;
  const sweeper = new GuardSweeper(now);
  return (next) => (call: ProxyCall) => {
    const policy = store.current().route(deps.backend ?? call.backend ?? '', call.path).policy;
    if (routeTimeout && policy.timeoutMs > 0) {
      call.tightenDeadline(call.startMs + policy.timeoutMs, now(), routeTimeoutExpired);
      if (call.cancelled !== undefined) return Promise.reject(call.cancelled);
    }
    // The unary guard is for calls with no deadline at all: a client deadline or a route timeout already bounds it.
    const unaryMs = call.deadlineMs === Infinity ? policy.unaryTimeoutMs : 0;
    const idleMs = policy.idleTimeoutMs;
    if (unaryMs === 0 && idleMs === 0) return next(call);
    const guard = new CallGuard(call, sweeper, unaryMs, idleMs);
    sweeper.add(guard, Math.min(unaryMs > 0 ? unaryMs : Infinity, idleMs > 0 ? idleMs : Infinity) / IDLE_CHECKS_PER_TIMEOUT);
    return next(call).then(guard.onReply, guard.onError);
  };
}

/**
 * The guards of one layer, swept together by one interval rather than a timer per call (as the listener sweeps
 * idle connections): a call that ends before its first sweep costs a Set insert and delete, not a timer (measured:
 * a timer armed and cleared per call was most of the guards' 1.1 µs per call). The interval runs while guards are
 * in flight (until a sweep finds none), every quarter of the shortest timeout seen since (at most MAX_SWEEP_MS): a unary guard ends its call
 * at most one period after its timeout, an idle guard after idleTimeoutMs plus at most two periods of silence.
 */
class GuardSweeper {
  /**
   * The guards in flight, each at its `slot` (swap-remove). An array rather than a Set: a long-lived Set with one add
   * and one delete per call makes V8 link each obsolete hash table to the next, so dead calls survive scavenges
   * (src/h2/stream-map.ts explains; docs/performance.md measures it).
   */
  private readonly guards: CallGuard[] = [];
  private timer: NodeJS.Timeout | undefined;
  private periodMs = MAX_SWEEP_MS;

  constructor(readonly now: () => number) {}

  add(guard: CallGuard, granularityMs: number): void {
    guard.slot = this.guards.length;
    this.guards.push(guard);
    const period = Math.max(1, Math.min(MAX_SWEEP_MS, Math.floor(granularityMs)));
    if (period < this.periodMs) {
      this.periodMs = period;
      this.stop();
    }
    if (this.timer === undefined) {
      this.timer = setInterval(this.sweep, this.periodMs);
      // A guard never holds the process open; calls in flight do that themselves.
      this.timer.unref();
    }
  }

  delete(guard: CallGuard): void {
    const slot = guard.slot;
    if (slot < 0) return;
    guard.slot = -1;
    const last = this.guards.pop() as CallGuard;
    if (last !== guard) {
      this.guards[slot] = last;
      last.slot = slot;
    }
  }

  private stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private readonly sweep = (): void => {
    // Stopped by the first sweep that finds no guard, not by the last delete: back-to-back calls one at a time
    // would otherwise start and stop the interval per call.
    if (this.guards.length === 0) {
      this.stop();
      this.periodMs = MAX_SWEEP_MS;
      return;
    }
    const now = this.now();
    // Backwards: a guard that leaves during fire() is replaced by the last one, which was already looked at.
    const guards = this.guards;
    for (let i = guards.length - 1; i >= 0; i--) {
      const guard = guards[i];
      if (guard !== undefined && now >= guard.next) guard.fire(now);
    }
  };
}

/** One call's guards (its StreamWatch), in the sweeper until the call ends. */
class CallGuard extends StreamWatch {
  /** Index in the sweeper's list while in it, else -1. */
  slot = -1;
  private responseStarted = false;

  constructor(
    private readonly call: ProxyCall,
    private readonly sweeper: GuardSweeper,
    unaryTimeoutMs: number,
    idleTimeoutMs: number,
  ) {
    // The idle guard looks at every sweep: comparing two counters is all a look costs.
    super({ startMs: call.startMs, unaryTimeoutMs, idleTimeoutMs, idleCheckMs: 1 });
  }

  readonly onReply = (reply: ProxyReply): ProxyReply => {
    this.responseStarted = true;
    if (reply.end !== undefined) this.stop();
    else reply.onEnd(this.stop);
    return reply;
  };

  readonly onError = (err: unknown): never => {
    this.stop();
    throw err;
  };

  readonly stop = (): void => {
    this.next = Infinity;
    this.sweeper.delete(this);
  };

  fire(now: number): void {
    const call = this.call;
    if (call.cancelled !== undefined) return;
    const verdict = this.check(now, {
      // Response headers count as activity too: they are a frame, though no byte counter sees them.
      activity: call.body.bytes + call.responseBytes + (this.responseStarted ? 1 : 0),
      responseStarted: this.responseStarted,
      requestOpen: call.body.open,
    });
    if (verdict !== undefined) call.cancel(guardError(verdict));
  }
}

function guardError(verdict: StreamWatchVerdict): ProxyError {
  return verdict === 'unary'
    ? new ProxyError('ERR_UNARY_TIMEOUT', 'Deadline exceeded (meshlet unaryTimeoutMs: the call has no deadline and the upstream did not answer in time)')
    : new ProxyError('ERR_STREAM_IDLE_TIMEOUT', 'Deadline exceeded (meshlet idleTimeoutMs: no data in either direction)');
}
