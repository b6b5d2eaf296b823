// SPDX-License-Identifier: Apache-2.0
// Secret-free copy of a config for the admin /config endpoint and logs.

/** What replaces a secret value. */
export const REDACTED = '[redacted]';

// The last word of a key names what it holds: `token`, `apiKey`, `db_password` are secrets; `keyFile` and
// `tokenPath` are paths to secrets, which are worth seeing when debugging a deployment.
const SECRET_WORDS = new Set(['token', 'password', 'passwd', 'secret', 'key', 'credential', 'credentials']);

/**
 * A deep copy of `config` in which every value under a secret-looking key (one whose last word is token,
 * password, secret, key or credentials, e.g. `consul.token`, `meta.api-key`) is `"[redacted]"`, and the password
 * of any `scheme://user:password@host` URL is too. Works on frozen input; never modifies it.
 */
export function redactConfig<T>(config: T): T {
  return redact(config) as T;
}

function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, isSecretKey(k) && v != null ? REDACTED : redact(v)]),
    );
  }
  if (typeof value === 'string') return redactUrlPassword(value);
  return value;
}

/** True when the last word of `key` (camelCase, kebab-case or snake_case) names a secret. */
export function isSecretKey(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
  return SECRET_WORDS.has(words.at(-1) ?? '');
}

function redactUrlPassword(s: string): string {
  return s.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]+@/i, `$1${REDACTED}@`);
}
