// SPDX-License-Identifier: Apache-2.0
// The discovery contract: a Resolver turns a backend name into a stream of endpoint sets. Static config and
// Consul implement it; the balancer consumes it. Resolvers never throw at callers: failures arrive as results.

/**
 * One address of a backend. Only the address is kept, not its host and port apart: the session pool splits it when
 * it connects (src/h2/session-pool.ts), and a large backend holds one string per endpoint instead of two (issue 13).
 */
export interface Endpoint {
  /** `host:port` (`[v6]:port`), validated; the identity of the endpoint in pools, pickers and metrics. */
  readonly address: string;
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

/**
 * How one endpoint set differs from the one before it (same watch): what a resolver that knows its changes
 * reports, so a consumer can update in O(changes) instead of rebuilding per endpoint (issue 13).
 */
export interface EndpointChanges {
  /** Endpoints new to the set, or replacing the endpoint of the same address (new weight or meta). */
  readonly upserted: readonly Endpoint[];
  /** Addresses that left the set. An address is never in both lists. */
  readonly removed: readonly string[];
}

/**
 * What {@link Resolver.watchChanges} reports: a {@link Resolution}, or `{ok: true, changes}` (the last ok set of
 * this watch with `changes` applied). The first ok result of a watch is always a whole set.
 */
export type ResolutionUpdate =
  | Resolution
  | { readonly ok: true; readonly endpoints?: undefined; readonly changes: EndpointChanges };

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
  /**
   * As `watch`, but an ok result after the first may be `{ok: true, changes}` instead of a whole set, so that a
   * change of k endpoints among n reaches the subscriber in O(k). Whole sets may still come at any time (the
   * subscriber then diffs). Optional: a resolver without it is watched with `watch`.
   */
  watchChanges?(backend: string, onResult: (result: ResolutionUpdate) => void): Watch;
}

/** The meta of every endpoint that has none: one shared object, not one per endpoint of a large backend. */
const NO_META: Readonly<Record<string, string>> = Object.freeze({});

/** Parses `host:port` (IPv6 as `[::1]:port`) into an Endpoint; throws a TypeError naming the bad value. */
export function endpointFromAddress(address: string, weight = 1, meta?: Readonly<Record<string, string>>): Endpoint {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new TypeError(`invalid endpoint address "${address}": expected host:port`);
  const ownMeta = meta === undefined || isEmpty(meta) ? NO_META : Object.freeze({ ...meta });
  return Object.freeze({ address, weight, meta: ownMeta });
}

function isEmpty(record: Readonly<Record<string, string>>): boolean {
  for (const _ in record) return false;
  return true;
}
