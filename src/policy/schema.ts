// SPDX-License-Identifier: Apache-2.0
// The policy schema (policy.yaml): route timeouts and retries per backend and method, and per backend the retry
// budget, circuit-breaker thresholds, failure-rate breaker and outlier detection. Hot-reloaded (config/watch.ts).
// This schema IS the policy reference: every field documents its default, unit and range; docs/policy.md and
// config/schema/policy.schema.json are generated from it.
//
// Fields are optional and carry no zod defaults on purpose: a policy is a set of overrides layered
// built-in → `defaults` → `backends.<name>` → the matching route (see match.ts), so `meshlet explain` can say where
// each effective value came from. The built-in values live in POLICY_DEFAULTS and appear as `default` in the JSON
// Schema (via `.meta`).

import { z } from 'zod';
import { authzSchema } from '../authz/schema.js';
import { rateLimitsSchema } from '../ratelimit/schema.js';

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

const D = POLICY_DEFAULTS;

/** An optional integer field whose docs state its default, unit and range. */
const int = (def: number, min: number, max: number, what: string, unit = '') =>
  z
    .number()
    .int()
    .min(min)
    .max(max)
    .optional()
    .meta({ default: def, description: `${what} ${unit ? `${unit}; default` : 'Default'} ${def}; range ${min}-${max}.` });

const ms = (def: number, min: number, max: number, what: string) => int(def, min, max, what, 'Milliseconds');

const mode = (def: Mode, note = '') =>
  z
    .enum(MODES)
    .optional()
    .meta({
      default: def,
      description: `off (no work per call), shadow (count and log what it would do, change nothing), enforce. ${note}Default ${def}.`,
    });

const BACKEND_NAME = /^[a-zA-Z0-9][a-zA-Z0-9\-_.]*$/;
/** `pkg.Service/Method` (exact), `pkg.Service/*` (every method of a service) or `*` (every method). */
export const METHOD_PATTERN = /^(?:\*|[A-Za-z_][A-Za-z0-9_.]*\/(?:\*|[A-Za-z_][A-Za-z0-9_]*))$/;

export const backoffSchema = z
  .object({
    baseMs: ms(D.retry.backoff.baseMs, 1, 60_000, 'Upper bound of the first retry delay (full jitter: a uniform draw below it).'),
    maxMs: ms(D.retry.backoff.maxMs, 1, 600_000, 'Cap of the delay bound, which doubles per retry; >= baseMs.'),
  })
  .strict()
  .describe('Jittered exponential backoff between attempts (Envoy: base 25 ms, cap 250 ms).');

export const retrySchema = z
  .object({
    mode: mode(D.retry.mode, '`off` also stops re-sending attempts that never reached the app; `shadow` counts the retries it would make. '),
    maxRetries: int(D.retry.maxRetries, 0, 10, 'Retries after the first attempt (attempts = 1 + maxRetries).'),
    retryOn: z
      .array(z.enum(Object.keys(RETRY_CODES) as [RetryCode, ...RetryCode[]]))
      .optional()
      .meta({
        default: D.retry.retryOn,
        description:
          'gRPC statuses that are retried when the upstream (or the connection to it) answers with them before any ' +
          'response header went downstream, e.g. [unavailable, resource-exhausted]. Lower-kebab names. Attempts ' +
          'that certainly never reached the app (refused stream, connect failure) are always retried; the default ' +
          '[] retries only those. List only statuses that are safe to retry for the methods matched.',
      }),
    perTryTimeoutMs: ms(
      D.retry.perTryTimeoutMs,
      0,
      3_600_000,
      'How long one attempt may wait for response headers before it is cancelled and retried; 0 = no limit. ' +
        'The route timeout and the client deadline still bound all attempts together.',
    ),
    backoff: backoffSchema.optional(),
  })
  .strict()
  .describe(
    'Retries of one call, only while no response header went downstream and the request fits the replay buffer ' +
      '(64 KiB); a retry goes to another endpoint when one is ready. As gRFC A6: a re-sent attempt carries ' +
      "grpc-previous-rpc-attempts, and an upstream's grpc-retry-pushback-ms replaces the backoff (negative or " +
      'malformed: no retry).',
  );

export const retryBudgetSchema = z
  .object({
    mode: mode(D.retryBudget.mode),
    retryPercent: int(D.retryBudget.retryPercent, 0, 100, 'Retries may add at most this share of the requests seen in the window.', 'Percent'),
    minRetriesPerSecond: int(
      D.retryBudget.minRetriesPerSecond,
      0,
      100_000,
      'Retries always allowed, per second of the window, on top of the share (so a quiet backend can retry at all).',
    ),
    ttlMs: ms(D.retryBudget.ttlMs, 1000, 600_000, 'The window requests and retries are counted over.'),
  })
  .strict()
  .describe('Per backend: retries (all routes together) stay within retryPercent of requests + minRetriesPerSecond (Linkerd: 20 % + 10/s over 10 s).');

export const limitsSchema = z
  .object({
    mode: mode(D.limits.mode),
    maxConcurrentRequests: int(D.limits.maxConcurrentRequests, 1, 1_000_000, 'Attempts in flight to the backend (Envoy max_requests).'),
    maxPendingRequests: int(
      D.limits.maxPendingRequests,
      0,
      1_000_000,
      'Attempts that may wait (FIFO, up to their deadline) for a free slot once maxConcurrentRequests is reached; 0 = fail at once.',
    ),
    maxConcurrentRetries: int(D.limits.maxConcurrentRetries, 0, 1_000_000, 'Retries in flight to the backend (Envoy max_retries); a retry over it is not made.'),
  })
  .strict()
  .describe(
    'Per backend, Envoy-style circuit-breaker thresholds. Overflow fails the attempt at once with UNAVAILABLE and ' +
      'x-meshlet-error ERR_LIMIT_MAX_REQUESTS or ERR_LIMIT_MAX_PENDING.',
  );

export const circuitBreakerSchema = z
  .object({
    mode: mode(D.circuitBreaker.mode),
    failureRatePercent: int(D.circuitBreaker.failureRatePercent, 1, 99, 'Opens when more than this share of the sampled calls failed.', 'Percent'),
    windowCalls: int(D.circuitBreaker.windowCalls, 2, 10_000, 'The sampling window: the last N calls to the backend.'),
    minimumCalls: int(D.circuitBreaker.minimumCalls, 1, 10_000, 'Calls the window must hold before the breaker may open; <= windowCalls.'),
    openMs: ms(D.circuitBreaker.openMs, 100, 600_000, 'How long the breaker stays open before one probe call; doubles after a failed probe.'),
    maxOpenMs: ms(D.circuitBreaker.maxOpenMs, 100, 3_600_000, 'Cap of the open period; >= openMs.'),
  })
  .strict()
  .describe(
    'Per backend: a failure-rate breaker. Failures are UNAVAILABLE, INTERNAL, DATA_LOSS, DEADLINE_EXCEEDED and ' +
      'connection errors. While open, calls fail at once with UNAVAILABLE and x-meshlet-error ERR_CIRCUIT_OPEN.',
  );

export const outlierDetectionSchema = z
  .object({
    mode: mode(D.outlierDetection.mode),
    consecutiveFailures: int(D.outlierDetection.consecutiveFailures, 1, 1000, 'Consecutive failed calls that eject an endpoint (Linkerd: 7).'),
    baseEjectionMs: ms(D.outlierDetection.baseEjectionMs, 100, 3_600_000, 'First ejection penalty; doubles with each ejection since the endpoint was last restored.'),
    maxEjectionMs: ms(D.outlierDetection.maxEjectionMs, 100, 3_600_000, 'Cap of the penalty; >= baseEjectionMs.'),
    jitterPercent: int(D.outlierDetection.jitterPercent, 0, 100, 'Random extra of up to this share of the penalty.', 'Percent'),
    maxEjectedPercent: int(
      D.outlierDetection.maxEjectedPercent,
      0,
      100,
      'Ejections stop once this share of the backend\'s endpoints is out; one endpoint of two or more can always ' +
        'be ejected, and one more while the share out is below this (Envoy, grpc-java): with 3 endpoints and 50, two. ' +
        'A single endpoint is ejected only at 100.',
      'Percent',
    ),
  })
  .strict()
  .describe(
    'Per endpoint: after consecutiveFailures failures (UNAVAILABLE, INTERNAL, DATA_LOSS, DEADLINE_EXCEEDED, ' +
      'connection errors) the endpoint leaves the picker for a jittered, exponentially growing penalty; then one ' +
      'real call probes it (probation): success restores it, failure ejects it again.',
  );

const routeFields = {
  timeoutMs: ms(
    D.timeoutMs,
    0,
    3_600_000,
    'Route timeout from the call\'s arrival, all attempts included; the effective deadline is the smaller of this ' +
      'and the client\'s grpc-timeout. 0 = none.',
  ),
  retry: retrySchema.optional(),
};

const backendFields = {
  ...routeFields,
  retryBudget: retryBudgetSchema.optional(),
  limits: limitsSchema.optional(),
  circuitBreaker: circuitBreakerSchema.optional(),
  outlierDetection: outlierDetectionSchema.optional(),
};

export const backendPolicySchema = z
  .object(backendFields)
  .strict()
  .describe('Settings for one backend (or, under `defaults`, for all): route settings for its methods plus its per-backend protections.');

export const routeMatchSchema = z
  .object({
    backend: z
      .string()
      .regex(BACKEND_NAME, 'expected a backend name: letters, digits, - _ . (starting with a letter or digit)')
      .optional()
      .describe('The backend (the :authority host the app calls). Omit to match every backend.'),
    method: z
      .string()
      .regex(METHOD_PATTERN, 'expected pkg.Service/Method, pkg.Service/* or *')
      .optional()
      .describe('`pkg.Service/Method` (exact), `pkg.Service/*` (every method of the service) or `*`; omit for every method.'),
  })
  .strict()
  .describe('Which calls the route applies to. The most specific route wins: exact method over service prefix over any method, then a named backend over any backend.');

export const routeSchema = z
  .object({
    name: z.string().min(1).max(100).optional().describe('A name for `meshlet explain` and logs; default routes[i].'),
    match: routeMatchSchema,
    ...routeFields,
  })
  .strict()
  .describe('Per-method settings: a timeout and a retry policy for the calls it matches.');

export const policySchema = z
  .object({
    defaults: backendPolicySchema.optional().describe('Settings for every backend and method, over the built-in defaults.'),
    backends: z
      .record(z.string().regex(BACKEND_NAME, 'expected letters, digits, - _ . (starting with a letter or digit)'), backendPolicySchema)
      .optional()
      .describe('Settings per backend, by the name the app calls (its :authority host), over `defaults`.'),
    routes: z.array(routeSchema).optional().describe('Per-method settings, over the settings of their backend.'),
    authz: authzSchema.optional(),
    rateLimits: rateLimitsSchema.optional(),
  })
  .strict()
  .describe(
    'meshlet policy (policy.yaml): timeouts, retries, retry budgets, circuit breakers and outlier detection for ' +
      'outbound calls, authorization (`authz`) of inbound calls, and rate limits (`rateLimits`) of both. Hot-reloaded: a valid change applies within a second; an invalid one is rejected and the ' +
      'last good policy stays. Every value is an override: route > backends.<name> > defaults > built-in default.',
  );

/** A validated policy file, as written (no defaults applied; deep-frozen by the loader). */
export type Policy = z.output<typeof policySchema>;
export type PolicyInput = z.input<typeof policySchema>;
export type BackendPolicyInput = z.output<typeof backendPolicySchema>;
export type RouteInput = z.output<typeof routeSchema>;

/** The empty policy: every value built in. */
export const EMPTY_POLICY: Policy = Object.freeze({});
