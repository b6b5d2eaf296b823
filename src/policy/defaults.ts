// SPDX-License-Identifier: Apache-2.0
// The policy's modes, retry codes and built-in values, without the schema: the request path reads these, and the
// sidecar's thread does not load zod to read them (docs/decisions.md §15). Re-exported by ./schema.ts.

/** Every protective feature's switch: off (no work), shadow (count and log, never reject), enforce. */
export const MODES = ['off', 'shadow', 'enforce'] as const;
export type Mode = (typeof MODES)[number];

/** gRPC status names accepted by `retry.retryOn` (lower-kebab, as Envoy and Linkerd spell them), by code. */
export const RETRY_CODES = {
  cancelled: 1,
  unknown: 2,
  'invalid-argument': 3,
  'deadline-exceeded': 4,
  'not-found': 5,
  'already-exists': 6,
  'permission-denied': 7,
  'resource-exhausted': 8,
  'failed-precondition': 9,
  aborted: 10,
  'out-of-range': 11,
  unimplemented: 12,
  internal: 13,
  unavailable: 14,
  'data-loss': 15,
  unauthenticated: 16,
} as const;
export type RetryCode = keyof typeof RETRY_CODES;

/** The built-in value of every policy field: what applies when no layer of the policy sets it. */
export const POLICY_DEFAULTS = {
  timeoutMs: 0,
  retry: {
    mode: 'enforce' as Mode,
    maxRetries: 2,
    retryOn: [] as RetryCode[],
    perTryTimeoutMs: 0,
    backoff: { baseMs: 25, maxMs: 250 },
  },
  retryBudget: { mode: 'enforce' as Mode, retryPercent: 20, minRetriesPerSecond: 10, ttlMs: 10_000 },
  limits: { mode: 'off' as Mode, maxConcurrentRequests: 1024, maxPendingRequests: 0, maxConcurrentRetries: 3 },
  circuitBreaker: {
    mode: 'off' as Mode,
    failureRatePercent: 50,
    windowCalls: 100,
    minimumCalls: 20,
    openMs: 5000,
    maxOpenMs: 60_000,
  },
  outlierDetection: {
    mode: 'enforce' as Mode,
    consecutiveFailures: 7,
    baseEjectionMs: 1000,
    maxEjectionMs: 60_000,
    jitterPercent: 50,
    maxEjectedPercent: 50,
  },
};

/** The policy of a sidecar without a policy file: every value built in. */
export const EMPTY_POLICY = Object.freeze({});
