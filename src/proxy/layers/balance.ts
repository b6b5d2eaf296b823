// SPDX-License-Identifier: Apache-2.0
// balance (outbound): picks an endpoint of the call's backend per request from the current Picker snapshot, and
// records the attempt's load (in-flight, latency, failures as penalty samples) for least_request. One pick per attempt: every re-send, including
// the always-safe one of an attempt that never reached the app, is the retry layer's (above), so all of them share
// one retry policy and budget; balance only avoids the endpoints that layer lists in AVOID_ENDPOINTS.

import type { Backends } from '../../balance/backends.js';
import { ProxyError, toProxyError } from '../../errors.js';
import { type ProxyCall, type ProxyReply } from '../call.js';
import { contextKey } from '../../grpc/call.js';
import { outcomeOfEnd, outcomeOfError } from '../../resilience/outcome.js';
import type { Handler, Layer } from '../layer.js';

/**
 * Endpoints this call's next pick should avoid when another ready one exists. The retry layer above
 * adds the endpoint of each failed attempt, so a retry goes to a different endpoint.
 */
export const AVOID_ENDPOINTS = contextKey<Set<string>>('balance.avoid');

export interface BalanceDeps {
  readonly backends: Backends;
  /** How long a call may wait for a backend's first discovery result; default 5000 ms. */
  readonly firstResultTimeoutMs?: number;
  readonly now?: () => number;
}

export function balanceLayer(deps: BalanceDeps): Layer {
  const now = deps.now ?? (() => performance.now());
  const firstResultTimeoutMs = deps.firstResultTimeoutMs ?? 5000;
  return (next: Handler) =>
    async (call: ProxyCall): Promise<ProxyReply> => {
      const name = call.backend ?? '';
      const backend = deps.backends.get(name);
      if (backend === undefined) {
        // The :authority is what the app dialled (with the traffic redirect, perhaps a bare IP:port): name both, and
        // the two ways out, since meshlet cannot forward to the connection's original destination (docs/traffic-redirect.md).
        throw new ProxyError(
          'ERR_UNKNOWN_BACKEND',
          `no upstream named "${name}" is configured (the call's :authority is "${call.authority}"): declare ` +
            `upstreams.${name} in the sidecar config, or exclude the destination from the traffic redirect`,
          { neverReachedApp: true },
        );
      }
      if (!backend.resolved) await waitResolved(call, backend.whenResolved(), firstResultTimeoutMs, name);
      const hashHeader = backend.balancing.hashHeader;
      const hashKey = hashHeader === undefined ? undefined : headerString(call.headers[hashHeader]);
      const picked = backend.picker?.pick({ hashKey, avoid: call.get(AVOID_ENDPOINTS) });
      if (picked === undefined) {
        const why = backend.lastError ? `: discovery failed: ${backend.lastError.message}` : '';
        throw new ProxyError('ERR_NO_ENDPOINTS', `no ready endpoint for "${name}"${why}`, { neverReachedApp: true });
      }
      call.endpoint = picked.endpoint.address;
      const load = picked.load;
      const done = load.start(now());
      let reply: ProxyReply;
      try {
        reply = await next(call);
      } catch (err) {
        done(now());
        const e = toProxyError(err);
        if (outcomeOfError(e) === 'failure') load.fail(now());
        throw e;
      }
      // The latency sample is the time to response headers; a failure that ends the call later (an error status in
      // the trailers, a reset) still counts, as the expensive sample least_request steers away from.
      done(now());
      reply.onEnd((end) => {
        if (outcomeOfEnd(end) === 'failure') load.fail(now());
      });
      return reply;
    };
}

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

function waitResolved(call: ProxyCall, resolved: Promise<void>, timeoutMs: number, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new ProxyError('ERR_NO_ENDPOINTS', `discovery of "${name}" gave no result within ${timeoutMs} ms`, { neverReachedApp: true }));
    }, timeoutMs);
    const off = call.onCancel((reason) => {
      clearTimeout(timer);
      reject(reason);
    });
    resolved.then(() => {
      clearTimeout(timer);
      off();
      resolve();
    }, reject);
  });
}
