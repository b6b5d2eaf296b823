// SPDX-License-Identifier: Apache-2.0
// The error catalogue of the data path: every meshlet-made failure is a ProxyError with a code that maps to one
// gRPC status. Mirrored in docs/errors.md (a test checks that every code is documented there).

import { Status } from './grpc/status.js';

/** Every error meshlet itself produces on the request path, with the gRPC status it answers with. */
export const ERRORS = {
  /** No endpoint is known for the backend (discovery has none, or all are ejected). */
  ERR_NO_ENDPOINTS: Status.UNAVAILABLE,
  /** The `:authority` of an outbound call names no configured or discoverable backend. */
  ERR_UNKNOWN_BACKEND: Status.UNAVAILABLE,
  /** TCP connect to the endpoint was refused or failed (ECONNREFUSED, EHOSTUNREACH, ...). */
  ERR_UPSTREAM_CONNECT: Status.UNAVAILABLE,
  /** The connect (TCP + HTTP/2 SETTINGS) did not finish within `connectTimeoutMs`. */
  ERR_UPSTREAM_CONNECT_TIMEOUT: Status.UNAVAILABLE,
  /** The upstream refused the stream (RST_STREAM REFUSED_STREAM): the app never saw the call. */
  ERR_UPSTREAM_REFUSED_STREAM: Status.UNAVAILABLE,
  /** The upstream sent GOAWAY before the stream was processed. */
  ERR_UPSTREAM_GOAWAY: Status.UNAVAILABLE,
  /** The upstream connection was lost (socket closed or errored) while the call was in flight. */
  ERR_UPSTREAM_CONNECTION_LOST: Status.UNAVAILABLE,
  /** The upstream reset the stream; the status follows the gRPC RST_STREAM mapping. */
  ERR_UPSTREAM_RESET: Status.INTERNAL,
  /** A gRPC response ended with END_STREAM on its body, without trailers (grpc-go: INTERNAL). */
  ERR_UPSTREAM_NO_TRAILERS: Status.INTERNAL,
  /** The upstream answered with something that is not gRPC (no grpc-status, bad content-type, HTTP error). */
  ERR_UPSTREAM_PROTOCOL: Status.INTERNAL,
  /** The call's deadline (client grpc-timeout or route timeout) expired in the proxy. */
  ERR_DEADLINE_EXCEEDED: Status.DEADLINE_EXCEEDED,
  /** A call without a deadline got no response headers within the policy's `unaryTimeoutMs`. */
  ERR_UNARY_TIMEOUT: Status.DEADLINE_EXCEEDED,
  /** A call moved no DATA in either direction for the policy's `idleTimeoutMs`. */
  ERR_STREAM_IDLE_TIMEOUT: Status.DEADLINE_EXCEEDED,
  /** The downstream client cancelled the call (RST_STREAM or connection closed). */
  ERR_DOWNSTREAM_CANCELLED: Status.CANCELLED,
  /** The request is not a valid gRPC request (method, path, content-type, grpc-timeout). */
  ERR_BAD_REQUEST: Status.INTERNAL,
  /** The sidecar is draining for shutdown and takes no new calls on this connection. */
  ERR_DRAINING: Status.UNAVAILABLE,
  // Resilience policy: local decisions; never retried by meshlet.
  /** The backend's failure-rate breaker is open (policy `circuitBreaker`). */
  ERR_CIRCUIT_OPEN: Status.UNAVAILABLE,
  /** The backend's `limits.maxConcurrentRequests` was reached and no pending slot is allowed. */
  ERR_LIMIT_MAX_REQUESTS: Status.UNAVAILABLE,
  /** The backend's `limits.maxConcurrentRequests` was reached and `limits.maxPendingRequests` are already waiting. */
  ERR_LIMIT_MAX_PENDING: Status.UNAVAILABLE,
  /** An attempt got no response headers within `retry.perTryTimeoutMs` and no retry was left. */
  ERR_RETRY_PER_TRY_TIMEOUT: Status.DEADLINE_EXCEEDED,
  // Inbound authorization (policy `authz`, enforce mode): the app never sees the call.
  /** A deny rule or a deny default applies to the caller and method. */
  ERR_AUTHZ_DENIED: Status.PERMISSION_DENIED,
  /** Denied a caller without a verified identity where an identity could have changed the answer. */
  ERR_AUTHZ_UNAUTHENTICATED: Status.UNAUTHENTICATED,
  // mTLS to upstream sidecars. UNAVAILABLE, as grpc-go and Envoy answer a failed transport handshake: the app never
  // saw the call, and another endpoint (retry, picker) may well be the right one (stale discovery, reused IP).
  /** The TLS handshake with the upstream failed: its chain does not end in the trust bundle, expired, alert, reset. */
  ERR_TLS_HANDSHAKE: Status.UNAVAILABLE,
  /** The upstream's certificate is valid but its SPIFFE ID (or name) is not one expected for that upstream. */
  ERR_TLS_PEER_IDENTITY: Status.UNAVAILABLE,
  /** The upstream completed TLS without negotiating ALPN `h2`. */
  ERR_TLS_NO_H2: Status.UNAVAILABLE,
  // Rate limits (policy `rateLimits`): the app (inbound) or the backend (outbound) never sees the call.
  /** A rate limit in enforce mode has no token for the call; grpc-retry-pushback-ms says when one will be. */
  ERR_RATELIMIT_EXCEEDED: Status.RESOURCE_EXHAUSTED,
  /** A global rate limit with `failureMode: closed` cannot reach Redis. */
  ERR_RATELIMIT_UNAVAILABLE: Status.UNAVAILABLE,
  /** A call other than grpc.health.v1 on the plaintext health listener (`mtls.inbound.healthListen`). */
  ERR_HEALTH_PORT_ONLY: Status.UNIMPLEMENTED,
  // gRPC-Web (inbound.grpcWeb): the request is refused by meshlet before the app sees it.
  /** The gRPC-Web request body is malformed: invalid base64, a frame cut short, or a trailers frame in a request. */
  ERR_GRPCWEB_BAD_BODY: Status.INTERNAL,
  /** The gRPC-Web request body holds more than one message: client-streaming and bidi calls are not gRPC-Web. */
  ERR_GRPCWEB_CLIENT_STREAMING: Status.UNIMPLEMENTED,
  /** The gRPC-Web request body is larger than `inbound.grpcWeb.maxRequestBytes`. */
  ERR_GRPCWEB_TOO_LARGE: Status.RESOURCE_EXHAUSTED,
  /** A bug: an invariant did not hold. Logged with its stack. */
  ERR_INTERNAL: Status.INTERNAL,
} as const satisfies Record<string, Status>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * A failure on the request path. `rescue` turns it into a Trailers-Only response with `grpc-status`,
 * `grpc-message` and `x-meshlet-error: <code>`. `cause` is logged, never sent on the wire.
 */
export class ProxyError extends Error {
  readonly code: ErrorCode;
  readonly grpcStatus: Status;
  /** True when the upstream application certainly never saw the call, so it is always safe to retry. */
  readonly neverReachedApp: boolean;
  /** Extra trailers of the error reply (e.g. grpc-retry-pushback-ms of a rate-limit rejection); default none. */
  readonly trailers: Readonly<Record<string, string>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; grpcStatus?: Status; neverReachedApp?: boolean; trailers?: Readonly<Record<string, string>> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProxyError';
    this.code = code;
    this.grpcStatus = options.grpcStatus ?? ERRORS[code];
    this.neverReachedApp = options.neverReachedApp ?? false;
    this.trailers = options.trailers;
  }
}

const ERRNO_CONNECT = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);
const ERRNO_LOST = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'ERR_HTTP2_SESSION_ERROR']);

/**
 * Maps anything thrown on the request path to a ProxyError. Walks the `cause` chain (with a cycle guard) looking
 * for a ProxyError or a known errno; anything else becomes ERR_INTERNAL.
 */
export function toProxyError(err: unknown): ProxyError {
  const seen = new Set<unknown>();
  let cur: unknown = err;
  while (cur !== null && typeof cur === 'object' && !seen.has(cur)) {
    seen.add(cur);
    if (cur instanceof ProxyError) return cur;
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (ERRNO_CONNECT.has(code)) {
        return new ProxyError('ERR_UPSTREAM_CONNECT', `connect failed: ${code}`, { cause: err, neverReachedApp: true });
      }
      if (ERRNO_LOST.has(code)) {
        return new ProxyError('ERR_UPSTREAM_CONNECTION_LOST', `upstream connection lost: ${code}`, { cause: err });
      }
    }
    cur = (cur as { cause?: unknown }).cause;
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ProxyError('ERR_INTERNAL', `internal proxy error: ${message}`, { cause: err });
}
