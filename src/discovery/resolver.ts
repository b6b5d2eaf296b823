// SPDX-License-Identifier: Apache-2.0
// The discovery contract: a Resolver turns a backend name into a stream of endpoint sets. Static config and
// Consul implement it; the balancer consumes it. Resolvers never throw at callers: failures arrive as results.

/** One address of a backend. */
export interface Endpoint {
  /** `host:port`, the identity of the endpoint in pools, pickers and metrics. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Relative weight for balancing, >= 1 (Consul `Weights.Passing`; static config `weight`). Default 1. */
  readonly weight: number;
  /** Consul Service.Meta (empty for static endpoints); mTLS reads `spiffe-id` from it (src/app/mtls.ts). */
  readonly meta: Readonly<Record<string, string>>;
}

/**
 * What a resolver reports: a complete endpoint set (possibly empty: the backend exists but has no healthy
 * instance), or an error (the source is unreachable). After an error, consumers keep the last good set.
 */
export type Resolution =
  | { readonly ok: true; readonly endpoints: readonly Endpoint[] }
  | { readonly ok: false; readonly error: Error };

/** A live subscription to one backend's endpoints. */
export interface Watch {
  /** Stops the watch; no further results are delivered. Idempotent. */
  close(): void;
}

export interface Resolver {
  /** Human-readable kind, for logs and /config ('static', 'consul'). */
  readonly kind: string;
  /**
   * Starts watching `backend`. `onResult` is called with every new result, never synchronously from inside
   * `watch()`, and never after `close()`.
   */
  watch(backend: string, onResult: (result: Resolution) => void): Watch;
}

/** The meta of every endpoint that has none: one shared object, not one per endpoint of a large backend. */
const NO_META: Readonly<Record<string, string>> = Object.freeze({});

/** Parses `host:port` (IPv6 as `[::1]:port`) into an Endpoint; throws a TypeError naming the bad value. */
export function endpointFromAddress(address: string, weight = 1, meta?: Readonly<Record<string, string>>): Endpoint {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new TypeError(`invalid endpoint address "${address}": expected host:port`);
  const host = (m[1] ?? m[2]) as string;
  const ownMeta = meta === undefined || isEmpty(meta) ? NO_META : Object.freeze({ ...meta });
  return Object.freeze({ address, host, port, weight, meta: ownMeta });
}

function isEmpty(record: Readonly<Record<string, string>>): boolean {
  for (const _ in record) return false;
  return true;
}
