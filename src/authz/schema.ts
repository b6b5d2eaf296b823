// SPDX-License-Identifier: Apache-2.0
// The `authz` section of policy.yaml: who may call the local service (inbound). Part of the policy schema
// (src/policy/schema.ts), so it is hot-reloaded and documented with the rest; the checks zod cannot express field
// by field (SPIFFE patterns, one metadata test per condition, safe regexes, unique names) live in ./validate.ts.

import { z } from 'zod';

/** Every rule and default decides one of these. */
export const AUTHZ_ACTIONS = ['allow', 'deny'] as const;
export type AuthzAction = (typeof AUTHZ_ACTIONS)[number];

/** The built-in values of the section's optional fields. */
export const AUTHZ_DEFAULTS = { mode: 'enforce' as 'off' | 'shadow' | 'enforce', defaultAction: 'allow' as AuthzAction };

/** Longest regex source accepted in a metadata condition (characters). */
export const MAX_REGEX_CHARS = 256;
/**
 * Header values longer than this (characters) are not run through a regex: the condition is then taken as met for
 * a deny rule and as not met for an allow rule (fail closed), so a long value can neither grant access nor dodge a
 * deny. Together with the regex restrictions in validate.ts it bounds the time one condition can take.
 */
export const MAX_REGEX_VALUE_CHARS = 256;

/** `pkg.Service/Method`, `pkg.Service/*` or `*` (the same forms as route matches). */
const METHOD = /^(?:\*|[A-Za-z_][A-Za-z0-9_.]*\/(?:\*|[A-Za-z_][A-Za-z0-9_]*))$/;
const SERVICE = /^[A-Za-z_][A-Za-z0-9_.]*$/;
/** Rule names become the `rule` label of meshlet_authz_decisions_total. */
const RULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** gRPC metadata keys are lowercase (PROTOCOL-HTTP2.md); pseudo-headers (`:path`) are not metadata. */
const HEADER_NAME = /^[a-z0-9][a-z0-9_.-]*$/;

const action = (what: string) => z.enum(AUTHZ_ACTIONS).meta({ description: what });

export const authzMetadataSchema = z
  .object({
    name: z.string().max(100).regex(HEADER_NAME, 'expected a lowercase metadata key: a-z 0-9 - _ .').describe('The request metadata (header) key, lowercase, e.g. `x-tenant`.'),
    equals: z.string().max(1024).optional().describe('Met when the value is exactly this (case-sensitive).'),
    present: z.boolean().optional().describe('`true`: met when the key is sent (any value); `false`: met when it is not.'),
    regex: z
      .string()
      .min(1)
      .max(MAX_REGEX_CHARS)
      .optional()
      .describe(
        'Met when the whole value matches this JavaScript regular expression (anchored at both ends). Restricted so ' +
          'matching time stays bounded: no backreferences or lookaround, no quantifier or `|` inside a quantified ' +
          'group, at most 3 unbounded quantifiers (`*`, `+`, `{n,}`). Values over 256 characters are not matched: ' +
          'the condition counts as met for a deny rule and as not met for an allow rule.',
      ),
  })
  .strict()
  .describe(
    'One test of request metadata; give exactly one of `equals`, `present`, `regex`. A key sent several times is ' +
      'tested on its values joined with ", ". Metadata is chosen by the caller: use it to narrow identity rules, not ' +
      'instead of them.',
  );

export const authzRuleSchema = z
  .object({
    name: z
      .string()
      .regex(RULE_NAME, 'expected 1-64 characters: letters, digits, - _ . (starting with a letter or digit)')
      .optional()
      .describe('Names the rule in the `rule` label of meshlet_authz_decisions_total, logs and `meshlet explain`; default `rules[i]`.'),
    action: action('`deny` rules are evaluated before `allow` rules; the first rule that matches decides.'),
    methods: z
      .array(z.string().regex(METHOD, 'expected pkg.Service/Method, pkg.Service/* or *'))
      .min(1)
      .max(100)
      .optional()
      .meta({ default: ['*'], description: 'The calls the rule applies to: `pkg.Service/Method`, `pkg.Service/*` or `*`. Default every method.' }),
    identities: z
      .array(z.string().max(2048))
      .min(1)
      .max(1000)
      .optional()
      .describe(
        'The rule matches a caller whose verified SPIFFE ID (from mTLS) matches one of these patterns: ' +
          '`spiffe://TRUST-DOMAIN/SEG/...`, exact, where the trust domain may be `*`, a segment `*` matches exactly ' +
          'one segment and a trailing `/**` one or more. Omit both this and `unauthenticated` to match every caller.',
      ),
    unauthenticated: z
      .boolean()
      .optional()
      .meta({ default: false, description: '`true`: the rule (also) matches callers without a verified identity (plaintext peers).' }),
    metadata: z
      .array(authzMetadataSchema)
      .min(1)
      .max(16)
      .optional()
      .describe('Every condition must be met (AND), in addition to the caller condition. Omit for no metadata condition.'),
  })
  .strict()
  .describe('One rule: an action for the calls to `methods` from the callers it names, optionally narrowed by request metadata.');

export const authzServiceSchema = z
  .object({
    defaultAction: action('What applies to a call to this service that no rule matches.').optional(),
  })
  .strict()
  .describe('Settings of one gRPC service of the local app.');

export const authzSchema = z
  .object({
    mode: z
      .enum(['off', 'shadow', 'enforce'])
      .optional()
      .meta({
        default: AUTHZ_DEFAULTS.mode,
        description:
          'off (no work per call), shadow (decide, count and log what would happen, let every call through), ' +
          'enforce (reject denied calls). A present `authz` section enforces unless told otherwise. Default enforce.',
      }),
    defaultAction: z
      .enum(AUTHZ_ACTIONS)
      .optional()
      .meta({ default: AUTHZ_DEFAULTS.defaultAction, description: 'What applies when no rule matches a call to a service not listed in `services`. Default allow.' }),
    services: z
      .record(z.string().regex(SERVICE, 'expected a gRPC service name: pkg.Service'), authzServiceSchema)
      .optional()
      .describe('Per gRPC service of the local app (fully qualified, e.g. `user.v1.UserService`): its default action.'),
    rules: z.array(authzRuleSchema).max(1000).optional().describe('The rules, in order. Deny rules are evaluated first, then allow rules, each in this order.'),
  })
  .strict()
  .describe(
    'Inbound authorization: which callers may call which methods of the local app. Per call: the deny rules that ' +
      'apply to the method are evaluated first, then the allow rules; the first match decides; with none the ' +
      "service's default action applies. Denied: PERMISSION_DENIED (ERR_AUTHZ_DENIED), or UNAUTHENTICATED " +
      '(ERR_AUTHZ_UNAUTHENTICATED) when the caller has no identity and one could have changed the answer. ' +
      'grpc.health.v1 is answered by the sidecar and never subject to authz.',
  );

export type AuthzPolicy = z.output<typeof authzSchema>;
export type AuthzRuleInput = z.output<typeof authzRuleSchema>;
export type AuthzMetadataInput = z.output<typeof authzMetadataSchema>;
