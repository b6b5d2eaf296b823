// SPDX-License-Identifier: Apache-2.0
// Env overrides of the bootstrap, applied to the parsed document before validation, so a bad env value is
// reported like a bad file value (with the variable as its "file").

import type { ConfigIssue } from './errors.js';
import type { Env } from './source.js';

/** What to do when the section an override writes into is absent from the file. */
type WhenAbsent = 'create' | 'skip' | 'issue';

interface Override {
  variable: string;
  section: string;
  key: string;
  whenAbsent: WhenAbsent;
  /** Maps the env value to the config value. */
  value?: (raw: string, env: Env) => string;
}

// Order matters: CONSUL_HTTP_ADDR may create `consul`, which the token and CA overrides then apply to.
const OVERRIDES: readonly Override[] = [
  { variable: 'MESHLET_LOG_LEVEL', section: 'log', key: 'level', whenAbsent: 'create' },
  { variable: 'MESHLET_ADMIN_LISTEN', section: 'admin', key: 'listen', whenAbsent: 'create' },
  // Set by the Kubernetes injector: the service name (annotation meshlet.io/service or the app label) and the pod
  // IP from the downward API (status.podIP), the address registered in Consul.
  { variable: 'MESHLET_SERVICE_NAME', section: 'service', key: 'name', whenAbsent: 'create' },
  { variable: 'MESHLET_POD_IP', section: 'service', key: 'address', whenAbsent: 'create' },
  // A listener needs more than its address (inbound needs `app`), and the env must not turn a client-only
  // workload into a server: no section, no override, but say so instead of ignoring the variable.
  { variable: 'MESHLET_INBOUND_LISTEN', section: 'inbound', key: 'listen', whenAbsent: 'issue' },
  { variable: 'MESHLET_OUTBOUND_LISTEN', section: 'outbound', key: 'listen', whenAbsent: 'issue' },
  // The demo and `consul agent -dev` setups rely on CONSUL_HTTP_ADDR alone turning discovery on.
  { variable: 'CONSUL_HTTP_ADDR', section: 'consul', key: 'address', whenAbsent: 'create', value: consulAddress },
  // Consul's own variables are often set for other tools too: without a `consul` section they do not apply.
  { variable: 'CONSUL_HTTP_TOKEN', section: 'consul', key: 'token', whenAbsent: 'skip' },
  { variable: 'CONSUL_CACERT', section: 'consul', key: 'caFile', whenAbsent: 'skip' },
  // Redis of global rate limits, as for Consul: the address alone turns it on; credentials need a `redis` to go to.
  { variable: 'MESHLET_REDIS_ADDRESS', section: 'redis', key: 'address', whenAbsent: 'create' },
  { variable: 'MESHLET_REDIS_USERNAME', section: 'redis', key: 'username', whenAbsent: 'skip' },
  { variable: 'MESHLET_REDIS_PASSWORD', section: 'redis', key: 'password', whenAbsent: 'skip' },
];

/** Every variable `applyEnvOverrides` reads, for docs and `--help`. */
export const ENV_OVERRIDES: readonly { variable: string; path: string; note: string }[] = OVERRIDES.map((o) => ({
  variable: o.variable,
  path: `${o.section}.${o.key}`,
  note: {
    create: `creates \`${o.section}\` when absent`,
    skip: `ignored when there is no \`${o.section}\` section`,
    issue: `an error when there is no \`${o.section}\` section`,
  }[o.whenAbsent],
}));

export interface EnvResult {
  /** A copy of the document with the overrides written in; the input is not modified. */
  data: unknown;
  /** Which variable now supplies which path, so issues there can name the variable. */
  applied: { variable: string; path: readonly [string, string] }[];
  issues: ConfigIssue[];
}

/**
 * Applies the `MESHLET_*` and Consul env overrides to a parsed bootstrap document. An empty variable counts as
 * unset. A section that exists but is not a map is left alone (validation reports it against the file).
 */
export function applyEnvOverrides(data: unknown, env: Env): EnvResult {
  const result: EnvResult = { data, applied: [], issues: [] };
  if (!isPlainObject(data)) return result;
  const root: Record<string, unknown> = { ...data };
  for (const o of OVERRIDES) {
    const raw = env[o.variable];
    if (raw === undefined || raw === '') continue;
    let section = root[o.section];
    if (section === undefined || section === null) {
      if (o.whenAbsent === 'skip') continue;
      if (o.whenAbsent === 'issue') {
        result.issues.push({
          file: o.variable,
          line: 0,
          column: 0,
          path: `${o.section}.${o.key}`,
          message: `set, but the config has no "${o.section}" section to apply it to`,
        });
        continue;
      }
      section = {};
    }
    if (!isPlainObject(section)) continue;
    root[o.section] = { ...section, [o.key]: o.value ? o.value(raw, env) : raw };
    result.applied.push({ variable: o.variable, path: [o.section, o.key] });
  }
  result.data = root;
  return result;
}

/** Consul's CLI accepts a bare `host:port` (https when CONSUL_HTTP_SSL is true); the schema wants a URL. */
function consulAddress(raw: string, env: Env): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) return raw;
  const ssl = env['CONSUL_HTTP_SSL'];
  return `${ssl === 'true' || ssl === '1' ? 'https' : 'http'}://${raw}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
