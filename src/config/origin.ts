// SPDX-License-Identifier: Apache-2.0
// Where each bootstrap value came from: the file (with its line), an env override (with the variable), or the
// schema's default. Loads through loadBootstrap, so the config is the one `meshlet run` would get.

import { applyEnvOverrides } from './env.js';
import type { ConfigIssue } from './errors.js';
import { loadBootstrap, readText } from './load.js';
import type { BootstrapConfig } from './schema.js';
import { staticSource, type ConfigSource, type Env } from './source.js';
import { parseYaml, positionOf } from './yaml-document.js';

/**
 * Says where the value at `path` came from: `env MESHLET_ADMIN_LISTEN`, `sidecar.yaml:12` (the line of its key),
 * or `built-in default` when neither the file nor an env override sets it.
 */
export type OriginOf = (path: readonly PropertyKey[]) => string;

/** The loaded bootstrap (as `loadBootstrap(source, env)` returns it) and where each of its values came from. */
export type LoadWithOrigins = { ok: true; config: BootstrapConfig; originOf: OriginOf } | { ok: false; errors: ConfigIssue[] };

/** Reads `source` once, loads it with `env` and maps its values to their origins. Never throws for a bad config. */
export async function loadBootstrapWithOrigins(source: ConfigSource, env: Env): Promise<LoadWithOrigins> {
  const text = await readText(source);
  if (typeof text !== 'string') return { ok: false, errors: [text] };
  const loaded = await loadBootstrap(staticSource(source.name, text), env);
  if (!loaded.ok) return loaded;
  // The load succeeded, so the text parses; parse it again for positions and the values as written.
  const parse = parseYaml(source.name, text);
  if (!parse.ok) return { ok: false, errors: parse.issues };
  const { parsed } = parse;
  const applied = applyEnvOverrides(parsed.data, env).applied;
  const originOf: OriginOf = (path) => {
    const override = applied.find((a) => a.path.every((seg, i) => path[i] === seg));
    if (override !== undefined) return `env ${override.variable}`;
    if (!isWritten(parsed.data, path)) return 'built-in default';
    return `${source.name}:${positionOf(parsed, path, true).line}`;
  };
  return { ok: true, config: loaded.config, originOf };
}

/** Whether the document as written has a value at `path` (a default fills in only what is absent). */
function isWritten(data: unknown, path: readonly PropertyKey[]): boolean {
  let cur = data;
  for (const seg of path) {
    if (typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, seg)) return false;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur !== undefined && cur !== null;
}
