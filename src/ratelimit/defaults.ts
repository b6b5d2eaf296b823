// SPDX-License-Identifier: Apache-2.0
// The rate pattern and a limit's built-in values, without the schema: the limiter reads these, and the sidecar's
// thread does not load zod to read them (docs/decisions.md §15). Re-exported by ./schema.ts.

/** `100/s`, `6000/m`, `10/h`: a count of calls per unit. */
export const RATE_PATTERN = /^([1-9][0-9]{0,8})\/(s|m|h)$/;

/** The built-in values of a limit's optional fields. */
export const RATE_LIMIT_DEFAULTS = {
  direction: 'inbound' as 'inbound' | 'outbound',
  mode: 'enforce' as 'off' | 'shadow' | 'enforce',
  scope: 'local' as 'local' | 'global',
  failureMode: 'open' as 'open' | 'closed',
};
