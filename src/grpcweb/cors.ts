// SPDX-License-Identifier: Apache-2.0
// CORS for gRPC-Web (Fetch standard "CORS protocol"), a pure leaf: which origins may call, and the headers of a
// preflight answer and of an actual response. An origin that is not allowed gets no CORS headers at all, so the
// browser blocks the response and the page learns nothing.

/** The `inbound.grpcWeb.cors` section, defaults applied. */
export interface CorsPolicy {
  /**
   * Origins allowed to call: exact (`https://app.example.com`, `http://127.0.0.1:7190`), a wildcard subdomain
   * (`https://*.example.com`: any host below example.com, not example.com itself) or `*` (any origin). Empty = none.
   */
  readonly allowedOrigins: readonly string[];
  /** Request headers a page may send beyond those gRPC-Web clients need (added to the built-in list). */
  readonly allowedHeaders: readonly string[];
  /** Response headers and trailers the page may read beyond grpc-status/grpc-message (custom metadata). */
  readonly exposedHeaders: readonly string[];
  /** How long a browser may cache a preflight answer, seconds. */
  readonly maxAgeSeconds: number;
}

/** The request headers gRPC-Web clients send (grpc-web, connect-web, improbable-eng). */
export const BUILTIN_ALLOWED_HEADERS: readonly string[] = Object.freeze([
  'content-type',
  'x-grpc-web',
  'x-user-agent',
  'grpc-timeout',
  'grpc-accept-encoding',
  'grpc-encoding',
  'connect-protocol-version',
  'traceparent',
  'tracestate',
]);

/** The response headers every page may read: the status of trailers-only answers and meshlet's error code. */
export const BUILTIN_EXPOSED_HEADERS: readonly string[] = Object.freeze(['grpc-status', 'grpc-message', 'grpc-status-details-bin', 'x-meshlet-error']);

/** True when `origin` (the request's Origin header) matches an entry of `allowed`. */
export function originAllowed(allowed: readonly string[], origin: string | undefined): boolean {
  if (origin === undefined || origin === '' || origin === 'null') return false;
  const o = origin.toLowerCase();
  for (const entry of allowed) {
    const e = entry.toLowerCase();
    if (e === '*' || e === o) return true;
    const star = e.indexOf('://*.');
    if (star < 0) continue;
    // `scheme://*.suffix[:port]`: the origin has the same scheme, ends with `.suffix[:port]` and has a non-empty label.
    const scheme = e.slice(0, star + 3);
    const suffix = e.slice(star + 4); // `.example.com[:port]`
    if (o.startsWith(scheme) && o.endsWith(suffix) && o.length > scheme.length + suffix.length) {
      const label = o.slice(scheme.length, o.length - suffix.length);
      if (!label.includes('/') && !label.includes(':')) return true;
    }
  }
  return false;
}

/** Joins header-name lists, lowercased and without duplicates. */
function headerList(...lists: ReadonlyArray<readonly string[]>): string {
  return [...new Set(lists.flat().map((h) => h.toLowerCase()))].join(', ');
}

/**
 * Headers for the answer to a preflight (`OPTIONS` with Access-Control-Request-Method) from `origin`; undefined
 * when the origin is not allowed (answer without CORS headers). Any requested header in `allowedHeaders` or the
 * built-in list is allowed; the browser itself refuses the call when a requested one is missing.
 */
export function preflightHeaders(policy: CorsPolicy, origin: string | undefined): Record<string, string> | undefined {
  if (!originAllowed(policy.allowedOrigins, origin)) return undefined;
  return {
    'access-control-allow-origin': origin as string,
    'access-control-allow-methods': 'POST, OPTIONS',
    'access-control-allow-headers': headerList(BUILTIN_ALLOWED_HEADERS, policy.allowedHeaders),
    'access-control-max-age': String(policy.maxAgeSeconds),
    vary: 'Origin',
  };
}

/** CORS headers for an actual response to `origin`; empty when the origin is not allowed (or there is none). */
export function responseCorsHeaders(policy: CorsPolicy, origin: string | undefined): Record<string, string> {
  if (!originAllowed(policy.allowedOrigins, origin)) return {};
  return {
    'access-control-allow-origin': origin as string,
    'access-control-expose-headers': headerList(BUILTIN_EXPOSED_HEADERS, policy.exposedHeaders),
    vary: 'Origin',
  };
}
