// SPDX-License-Identifier: Apache-2.0
// The `rateLimits` section of policy.yaml: token-bucket limits on inbound calls (a service protecting itself) and
// on outbound calls to a backend (a client protecting a dependency), local to the sidecar or shared by every
// sidecar through Redis. Part of the policy schema (src/policy/schema.ts), so hot-reloaded and documented with it;
// the checks that span fields live in ./validate.ts.

import { z } from 'zod';

/** `100/s`, `6000/m`, `10/h`: a count of calls per unit. */
export const RATE_PATTERN = /^([1-9][0-9]{0,8})\/(s|m|h)$/;
/** A descriptor: who or what keys one bucket of the limit. */
export const DESCRIPTOR_PATTERN = /^(?:caller|method|header:[a-z0-9][a-z0-9_.-]{0,99})$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const BACKEND_NAME = /^[a-zA-Z0-9][a-zA-Z0-9\-_.]*$/;
const METHOD = /^(?:\*|[A-Za-z_][A-Za-z0-9_.]*\/(?:\*|[A-Za-z_][A-Za-z0-9_]*))$/;
const HEADER_NAME = /^[a-z0-9][a-z0-9_.-]{0,99}$/;

/** The built-in values of a limit's optional fields. */
export const RATE_LIMIT_DEFAULTS = {
  direction: 'inbound' as 'inbound' | 'outbound',
  mode: 'enforce' as 'off' | 'shadow' | 'enforce',
  scope: 'local' as 'local' | 'global',
  failureMode: 'open' as 'open' | 'closed',
};

export const rateLimitMatchSchema = z
  .object({
    backend: z
      .string()
      .regex(BACKEND_NAME, 'expected a backend name: letters, digits, - _ . (starting with a letter or digit)')
      .optional()
      .describe('Outbound only: the backend (the :authority host the app calls). Omit to match every backend.'),
    method: z
      .string()
      .regex(METHOD, 'expected pkg.Service/Method, pkg.Service/* or *')
      .optional()
      .describe('`pkg.Service/Method` (exact), `pkg.Service/*` (every method of the service) or `*`; omit for every method.'),
  })
  .strict()
  .describe('Which calls the limit counts, matched like routes.');

export const rateLimitSchema = z
  .object({
    name: z
      .string()
      .regex(NAME, 'expected 1-64 letters, digits, _ . - (starting with a letter or digit)')
      .describe('Unique name: the `limit` label of the metrics, the Redis key of a global limit, and what `meshlet explain` shows.'),
    direction: z
      .enum(['inbound', 'outbound'])
      .optional()
      .meta({
        default: RATE_LIMIT_DEFAULTS.direction,
        description: '`inbound`: calls other services make to this one (checked after authz). `outbound`: calls the app makes to `match.backend`. Default inbound.',
      }),
    match: rateLimitMatchSchema.optional(),
    rate: z
      .string()
      .regex(RATE_PATTERN, 'expected <calls>/<unit>, unit s, m or h, e.g. 100/s')
      .describe('The sustained rate: tokens added to each bucket, `<calls>/s`, `/m` or `/h` (e.g. `100/s`).'),
    burst: z
      .number()
      .int()
      .min(1)
      .max(1_000_000_000)
      .optional()
      .describe('The bucket size: calls admitted back to back after a quiet period. Default: the count of `rate` (100/s → 100); range 1-1e9.'),
    mode: z
      .enum(['off', 'shadow', 'enforce'])
      .optional()
      .meta({
        default: RATE_LIMIT_DEFAULTS.mode,
        description: 'off (not checked), shadow (counted and logged as `shadow_rejected`, never rejects), enforce. Default enforce.',
      }),
    scope: z
      .enum(['local', 'global'])
      .optional()
      .meta({
        default: RATE_LIMIT_DEFAULTS.scope,
        description:
          '`local`: one bucket per sidecar. `global`: one bucket shared through Redis (bootstrap `redis`) by every sidecar ' +
          'with this policy; each sidecar leases tokens in small batches (docs/decisions.md §14). Default local.',
      }),
    by: z
      .array(z.string().regex(DESCRIPTOR_PATTERN, 'expected caller, method or header:<lowercase-name>'))
      .max(4)
      .optional()
      .meta({
        default: [],
        description:
          'Descriptors: one bucket per distinct value of these. `caller` (the verified mTLS SPIFFE ID, else the ' +
          '`callerHeader` value), `method`, `header:<name>`. Empty (default): one bucket for every call matched.',
      }),
    callerHeader: z
      .string()
      .regex(HEADER_NAME, 'expected a lowercase metadata key: a-z 0-9 - _ .')
      .optional()
      .describe('For `by: [caller]`: the metadata key naming the caller when the call carries no mTLS identity. Default: none (such calls share one bucket).'),
    failureMode: z
      .enum(['open', 'closed'])
      .optional()
      .meta({
        default: RATE_LIMIT_DEFAULTS.failureMode,
        description:
          'Global only, while Redis is unreachable, slow or erroring: `open` limits with a local bucket of the same ' +
          'rate in each sidecar; `closed` rejects with UNAVAILABLE (ERR_RATELIMIT_UNAVAILABLE). Default open.',
      }),
  })
  .strict()
  .describe('One token-bucket limit. Every limit that matches a call must admit it.');

export const rateLimitsSchema = z.array(rateLimitSchema).describe('Rate limits of inbound and outbound calls; every matching limit must admit a call.');

export type RateLimitInput = z.output<typeof rateLimitSchema>;
