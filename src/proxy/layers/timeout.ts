// SPDX-License-Identifier: Apache-2.0
// timeout (outbound): the route timeout of the call's policy route, counted from the call's arrival and covering
// every attempt. It only ever tightens the deadline the `deadline` layer set from grpc-timeout, so the effective
// deadline is the smaller of the two; forward re-emits what is left as grpc-timeout upstream. Per-try timeouts
// live in `retry`.

import { ProxyError } from '../../errors.js';
import type { PolicyStore } from '../../policy/store.js';
import type { ProxyCall } from '../call.js';
import type { Layer } from '../layer.js';

const routeTimeoutExpired = (): ProxyError => new ProxyError('ERR_DEADLINE_EXCEEDED', 'Deadline exceeded (meshlet route timeout)');

export interface TimeoutDeps {
  readonly store: PolicyStore;
  /** performance.now() unless a test injects a clock. */
  readonly now?: () => number;
}

/** Needs `call.backend` (the route layer runs first). With `timeoutMs` 0 it does nothing but the route lookup. */
export function timeoutLayer(deps: TimeoutDeps): Layer {
  const { store } = deps;
  const now = deps.now ?? (() => performance.now());
  return (next) => (call: ProxyCall) => {
    const timeoutMs = store.current().route(call.backend ?? '', call.path).policy.timeoutMs;
    if (timeoutMs > 0) {
      call.tightenDeadline(call.startMs + timeoutMs, now(), routeTimeoutExpired);
      if (call.cancelled !== undefined) return Promise.reject(call.cancelled);
    }
    return next(call);
  };
}
