// SPDX-License-Identifier: Apache-2.0
// The authz section's actions, built-in values and regex bounds, without the schema: the evaluator on the request
// path reads these, and the sidecar's thread does not load zod to read them (docs/decisions.md §15). Re-exported
// by ./schema.ts.

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
