// SPDX-License-Identifier: Apache-2.0
// What `meshlet run` checks before it starts anything: the bootstrap with the env overrides applied, then the
// policy file the bootstrap names. `meshlet validate` calls the same function, so "ok" means `run` would start.

import type { ConfigIssue } from '../config/errors.js';
import { loadBootstrap } from '../config/load.js';
import type { BootstrapConfig } from '../config/schema.js';
import { fileSource, type ConfigSource, type Env } from '../config/source.js';
import { loadPolicy } from '../policy/load.js';
import type { Policy } from '../policy/schema.js';

/** Everything `run` loads at startup, or every issue that stops it (bootstrap issues first, then the policy's). */
export type StartupResult =
  | { ok: true; bootstrap: BootstrapConfig; policy: Policy | undefined; policyFile: string | undefined }
  | { ok: false; errors: ConfigIssue[]; invalid: string };

/**
 * Loads the bootstrap from `source` with the `MESHLET_*`/`CONSUL_*` overrides from `env` (issues about an
 * overridden value name the variable as their file), then, when the result names `policy.file`, loads and
 * validates that file as the policy (read through `readPolicy`, a file by default). Never throws for a bad
 * config; `invalid` names what was rejected (the bootstrap's source name or the policy path).
 */
export async function loadStartup(
  source: ConfigSource,
  env: Env,
  readPolicy: (path: string) => ConfigSource = fileSource,
): Promise<StartupResult> {
  const loaded = await loadBootstrap(source, env);
  if (!loaded.ok) return { ok: false, errors: loaded.errors, invalid: source.name };
  const policyFile = loaded.config.policy?.file;
  if (policyFile === undefined) return { ok: true, bootstrap: loaded.config, policy: undefined, policyFile };
  const policy = await loadPolicy(readPolicy(policyFile));
  if (!policy.ok) return { ok: false, errors: policy.errors, invalid: policyFile };
  return { ok: true, bootstrap: loaded.config, policy: policy.config, policyFile };
}
