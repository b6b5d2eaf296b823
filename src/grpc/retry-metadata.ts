// SPDX-License-Identifier: Apache-2.0
// The retry metadata of gRFC A6 (github.com/grpc/proposal/blob/master/A6-client-retries.md): the attempt count a
// retried attempt carries (`grpc-previous-rpc-attempts`) and the server's pushback (`grpc-retry-pushback-ms`).

/**
 * Request header on every re-sent attempt: "the number of preceding retry attempts. Thus, it will not be present
 * on the first RPC, will be 1 for the second RPC, and so on" (gRFC A6, Exposed Retry Metadata).
 */
export const PREVIOUS_RPC_ATTEMPTS = 'grpc-previous-rpc-attempts';

/**
 * Response metadata (Trailers-Only headers or trailers) by which a server asks for a delay before the next retry,
 * or for no retry at all (gRFC A6, Pushback).
 */
export const RETRY_PUSHBACK_MS = 'grpc-retry-pushback-ms';

/** What a server's pushback asks for: no pushback, a retry after `delayMs`, or no retry at all. */
export type Pushback = { readonly kind: 'none' } | { readonly kind: 'delay'; readonly delayMs: number } | { readonly kind: 'stop' };

const NONE: Pushback = Object.freeze({ kind: 'none' });
const STOP: Pushback = Object.freeze({ kind: 'stop' });
const INT32_MAX = 2 ** 31 - 1;

/**
 * Reads `grpc-retry-pushback-ms` from a header value as Node delivers it (absent, one string, or repeated).
 * gRFC A6: "an ASCII encoded signed 32-bit integer with no unnecessary leading zeros [...]. If the value for
 * pushback is negative or unparseable, then it will be seen as the server asking the client not to retry at all."
 * So: absent → `none`; 0..2^31-1 → `delay` of that many ms; negative, out of int32 range, leading zeros, a sign on
 * zero, anything else, or more than one value → `stop`.
 */
export function parsePushback(value: string | readonly string[] | undefined): Pushback {
  if (value === undefined) return NONE;
  if (typeof value !== 'string') return value.length === 1 ? parsePushback(value[0]) : value.length === 0 ? NONE : STOP;
  if (!/^(?:0|[1-9][0-9]{0,9})$/.test(value)) return STOP; // a '-' sign or any malformation: do not retry
  const n = Number(value);
  return n > INT32_MAX ? STOP : { kind: 'delay', delayMs: n };
}

/**
 * The attempt count the client (the app, when it retries itself) already put on the call: a non-negative integer,
 * otherwise 0. A retry by meshlet adds its own preceding attempts to it, so the server sees the whole count.
 */
export function parsePreviousAttempts(value: string | readonly string[] | undefined): number {
  const v = typeof value === 'string' ? value : value?.length === 1 ? value[0] : undefined;
  return v !== undefined && /^(?:0|[1-9][0-9]{0,5})$/.test(v) ? Number(v) : 0;
}
