// SPDX-License-Identifier: Apache-2.0
// What `meshlet run` checks before it starts anything: the bootstrap with the env overrides applied, then the
// policy file the bootstrap names. `meshlet validate` calls the same function, so "ok" means `run` would start.

import type { ConfigIssue } from '../config/errors.js';
import { loadBootstrap } from '../config/load.js';
import type { BootstrapConfig } from '../config/schema.js';
import { fileSource, staticSource, type ConfigSource, type Env } from '../config/source.js';
import { loadPolicy } from '../policy/load.js';
import type { Policy } from '../policy/schema.js';

/** Everything `run` loads at startup, or every issue that stops it (bootstrap issues first, then the policy's). */
export type StartupResult =
  | {
      ok: true;
      bootstrap: BootstrapConfig;
      policy: Policy | undefined;
      policyFile: string | undefined;
      /** The text `policy` was validated from: the policy watcher compares later versions of the file with it. */
      policyText: string | undefined;
    }
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
  if (policyFile === undefined) return { ok: true, bootstrap: loaded.config, policy: undefined, policyFile, policyText: undefined };
  // Read once, so the text returned is exactly the one validated; an unreadable file is reported by the loader.
  const policyText = await readPolicy(policyFile)
    .read()
    .catch(() => undefined);
  const policy = await loadPolicy(policyText === undefined ? readPolicy(policyFile) : staticSource(policyFile, policyText));
  if (!policy.ok) return { ok: false, errors: policy.errors, invalid: policyFile };
  return { ok: true, bootstrap: loaded.config, policy: policy.config, policyFile, policyText };
}
