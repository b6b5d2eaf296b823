// SPDX-License-Identifier: Apache-2.0
// The request path is a chain of small layers around a terminal handler (tower's Service/Layer, connect-es
// interceptors). compose([a, b, c], terminal): `a` is outermost, it sees the call first and the reply last.

import type { ProxyCall, ProxyReply } from './call.js';

/** Handles one call and resolves with the reply to send downstream; rejects with a ProxyError on failure. */
export type Handler = (call: ProxyCall) => Promise<ProxyReply>;

/** Wraps a handler with one concern. Layers must not keep per-call state outside the call. */
export type Layer = (next: Handler) => Handler;

/** Composes layers around a terminal handler; the first layer is the outermost. */
export function compose(layers: readonly Layer[], terminal: Handler): Handler {
  let handler = terminal;
  for (let i = layers.length - 1; i >= 0; i--) handler = (layers[i] as Layer)(handler);
  return handler;
}
