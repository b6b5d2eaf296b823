// SPDX-License-Identifier: Apache-2.0
// The call vocabulary every area shares (telemetry, resilience, policy, the data path): which way a call goes,
// how it ended, and typed keys into a call's context. A leaf: it imports nothing of the data path.

import type { IncomingHttpHeaders } from 'node:http2';

/** Which listener a call arrived on: `inbound` (peers → the local app) or `outbound` (the local app → the mesh). */
export type Direction = 'inbound' | 'outbound';

/** A typed key into a call's context, for a value one layer attaches for layers further down the chain. */
export interface ContextKey<T> {
  readonly name: string;
  readonly _type?: T;
}

export function contextKey<T>(name: string): ContextKey<T> {
  return Object.freeze({ name }) as ContextKey<T>;
}

/**
 * What the shared vocabulary knows of an error meshlet itself produced: its `x-meshlet-error` code and status.
 * `ProxyError` (src/errors.ts, the catalogue) implements it; this leaf does not import the catalogue.
 */
export interface MeshletError {
  /** The `ERR_*` code sent as `x-meshlet-error`. */
  readonly code: string;
  readonly grpcStatus: number;
  readonly message: string;
  /** True when the upstream application certainly never saw the call. */
  readonly neverReachedApp: boolean;
}

/** How a call ended, as the downstream client sees it. Delivered once to every `onEnd` listener. */
export interface CallEnd {
  /** The gRPC status code sent downstream. */
  readonly status: number;
  /** The grpc-message, decoded (human-readable), when there was one. */
  readonly message: string | undefined;
  /** Set when meshlet itself produced the status. */
  readonly error: MeshletError | undefined;
}

/**
 * Who is on the other end of the downstream connection. `identity` is an authenticated peer identity (a SPIFFE ID);
 * the listeners speak plaintext h2c, so nothing authenticates a peer and it stays undefined.
 */
export interface PeerInfo {
  readonly address: string;
  readonly port: number;
  identity: string | undefined;
}

/** What layers change request headers through (proxy/call.ts gives a call's HeaderEdits, h2/headers.ts). */
export interface HeaderWriter {
  /** Sets `name` (lower-case, not a pseudo-header) to `value`, replacing every value it had; `neverIndex` marks it sensitive. */
  set(name: string, value: string, neverIndex?: boolean): void;
  /** Removes every value of `name`. */
  delete(name: string): void;
}

/**
 * The view of one call that telemetry and policy need (the data path's ProxyCall implements it), so they depend on
 * this leaf and not on the data path. Read-only, but for the request header edits (tracing's trace context).
 */
export interface CallInfo {
  readonly direction: Direction;
  /** `:path` as received, e.g. `/user.v1.UserService/GetUser`. */
  readonly path: string;
  /** `:authority` as received (host[:port]). */
  readonly authority: string;
  /** The fully qualified gRPC service (`user.v1.UserService`). */
  readonly service: string;
  /** The gRPC method name (`GetUser`). */
  readonly method: string;
  /** Request headers as received (read-only). */
  readonly headers: IncomingHttpHeaders;
  /** Where changes to the request headers sent upstream go; tracing injects its propagation headers here. */
  editHeaders(): HeaderWriter;
  /** Request DATA bytes read so far. */
  readonly body: { readonly bytes: number };
  readonly peer: PeerInfo;
  /** performance.now() when the call arrived. */
  readonly startMs: number;
  /** The logical service the call is routed to. */
  readonly backend: string | undefined;
  /** `host:port` of the endpoint of the current attempt. */
  readonly endpoint: string | undefined;
  /** Attempts made upstream. */
  readonly attempts: number;
  /** Response DATA bytes. */
  readonly responseBytes: number;
}
