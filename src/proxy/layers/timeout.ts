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
import { StreamWatch, type StreamWatchVerdict } from '../../resilience/stream-watch.js';
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

/** With `timeoutMs`, `unaryTimeoutMs` and `idleTimeoutMs` all 0 it does nothing but the route lookup. */
export function timeoutLayer(deps: TimeoutDeps): Layer {
  const { store } = deps;
  const now = deps.now ?? (() => performance.now());
  const routeTimeout = deps.routeTimeout ?? true;
  return (next) => (call: ProxyCall) => {
    const policy = store.current().route(deps.backend ?? call.backend ?? '', call.path).policy;
    if (routeTimeout && policy.timeoutMs > 0) {
      call.tightenDeadline(call.startMs + policy.timeoutMs, now(), routeTimeoutExpired);
      if (call.cancelled !== undefined) return Promise.reject(call.cancelled);
    }
    // The unary guard is for calls with no deadline at all: a client deadline or a route timeout already bounds it.
    const unaryMs = call.deadlineMs === Infinity ? policy.unaryTimeoutMs : 0;
    if (unaryMs === 0 && policy.idleTimeoutMs === 0) return next(call);
    const guard = new CallGuard(call, new StreamWatch({ startMs: call.startMs, unaryTimeoutMs: unaryMs, idleTimeoutMs: policy.idleTimeoutMs }), now);
    return next(call).then(guard.onReply, guard.onError);
  };
}

/** One call's timer over its StreamWatch; stops when the call ends. */
class CallGuard {
  private timer: NodeJS.Timeout | undefined;
  private responseStarted = false;

  constructor(
    private readonly call: ProxyCall,
    private readonly watch: StreamWatch,
    private readonly now: () => number,
  ) {
    this.arm();
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
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.watch.next = Infinity;
  };

  private arm(): void {
    if (this.watch.next === Infinity) return;
    // The guard rides as the timer's argument: no closure per arming.
    this.timer = setTimeout(fireGuard, Math.max(0, this.watch.next - this.now()), this);
  }

  fire(): void {
    this.timer = undefined;
    const call = this.call;
    if (call.cancelled !== undefined || this.watch.next === Infinity) return;
    const verdict = this.watch.check(this.now(), {
      // Response headers count as activity too: they are a frame, though no byte counter sees them.
      activity: call.body.bytes + call.responseBytes + (this.responseStarted ? 1 : 0),
      responseStarted: this.responseStarted,
      requestOpen: call.body.open,
    });
    if (verdict === undefined) this.arm();
    else call.cancel(guardError(verdict));
  }
}

function fireGuard(guard: CallGuard): void {
  guard.fire();
}

function guardError(verdict: StreamWatchVerdict): ProxyError {
  return verdict === 'unary'
    ? new ProxyError('ERR_UNARY_TIMEOUT', 'Deadline exceeded (meshlet unaryTimeoutMs: the call has no deadline and the upstream did not answer in time)')
    : new ProxyError('ERR_STREAM_IDLE_TIMEOUT', 'Deadline exceeded (meshlet idleTimeoutMs: no data in either direction)');
}
