// SPDX-License-Identifier: Apache-2.0
// The request path is a chain of small layers around a terminal handler (tower's Service/Layer, connect-es
// interceptors). compose([a, b, c], terminal): `a` is outermost, it sees the call first and the reply last.

import type { ProxyCall, ProxyReply } from './call.js';

/** Handles one call and resolves with the reply to send downstream; rejects with a ProxyError on failure. */
export type Handler = (call: ProxyCall) => Promise<ProxyReply>;

/** Wraps a handler with one concern. Layers must not keep per-call state outside the call. */
export type Layer = (next: Handler) => Handler;

/** Builds a handler for one target (a route, a backend, an endpoint); see `cached`. */
export type NewHandler<T> = (target: T) => Handler;

/** Composes layers around a terminal handler; the first layer is the outermost. */
export function compose(layers: readonly Layer[], terminal: Handler): Handler {
  let handler = terminal;
  for (let i = layers.length - 1; i >= 0; i--) handler = (layers[i] as Layer)(handler);
  return handler;
}

/**
 * Caches one handler per target key, so per-target stacks (per backend, per endpoint) are built once.
 * `evict(key)` drops a stack whose target went away.
 */
export function cached<T>(key: (target: T) => string, make: NewHandler<T>): NewHandler<T> & { evict(k: string): void } {
  const stacks = new Map<string, Handler>();
  const get = ((target: T) => {
    const k = key(target);
    let h = stacks.get(k);
    if (h === undefined) {
      h = make(target);
      stacks.set(k, h);
    }
    return h;
  }) as NewHandler<T> & { evict(k: string): void };
  get.evict = (k: string) => {
    stacks.delete(k);
  };
  return get;
}
