// SPDX-License-Identifier: Apache-2.0
// `meshlet validate FILE...`: checks config files of any known kind and prints every issue, compiler-style.
// A bootstrap is checked as `meshlet run` loads it (startup.ts): env overrides and the policy file it names.

import { isMap, isScalar, parseDocument } from 'yaml';
import { formatIssue, type ConfigIssue } from '../config/errors.js';
import { readText } from '../config/load.js';
import { loadStartup } from './startup.js';
import { loadPolicy } from '../policy/load.js';
import { fileSource, staticSource, type ConfigSource, type Env } from '../config/source.js';

/** The kinds of config file meshlet reads. */
export type ConfigKind = 'bootstrap' | 'policy';

/**
 * Checks one document under `env`; resolves to its issues (none when valid), and may push lines to `warnings`
 * (printed, but the file still validates).
 */
export type Validator = (source: ConfigSource, env: Env, warnings: string[]) => Promise<ConfigIssue[]>;

/**
 * One validator per kind. A bootstrap is checked exactly as `meshlet run` loads it: with the env overrides
 * applied (a bad value is reported under the variable's name) and with the policy file it names loaded too, so
 * a bootstrap that validates is one `run` starts with.
 */
export const validators: { readonly [K in ConfigKind]?: Validator } = {
  bootstrap: async (source, env, warnings) => {
    const result = await loadStartup(source, env);
    if (!result.ok) return result.errors;
    // Global rate limits share their buckets through Redis: without a `redis` section they run on their local
    // fallback (each sidecar enforces the whole rate), which is valid but rarely what was meant.
    const global = (result.policy?.rateLimits ?? []).filter((l) => l.scope === 'global' && l.mode !== 'off').map((l) => l.name);
    if (global.length > 0 && result.bootstrap.redis === undefined) {
      warnings.push(
        `${source.name}: warning: ${result.policyFile ?? 'the policy'} has global rate limits (${global.join(', ')}) but there is no \`redis\` section ` +
          '(or MESHLET_REDIS_ADDRESS): each sidecar enforces them locally',
      );
    }
    return [];
  },
  // Policy files: the same pipeline as hot reload, cross-field checks included.
  policy: async (source) => {
    const result = await loadPolicy(source);
    return result.ok ? [] : result.errors;
  },
};

/** Top-level keys only a policy document has (policy/schema.ts); none of them is a bootstrap key. */
const POLICY_KEYS: ReadonlySet<unknown> = new Set(['routes', 'backends', 'defaults', 'authz', 'rateLimits']);

/**
 * 'policy' when the document has a top-level `routes`, `backends` or `defaults` key, else 'bootstrap' (which also
 * reports bad YAML).
 */
export function detectKind(text: string): ConfigKind {
  const doc = parseDocument(text);
  const root = doc.contents;
  if (isMap(root) && root.items.some((p) => isScalar(p.key) && POLICY_KEYS.has(p.key.value))) return 'policy';
  return 'bootstrap';
}

/**
 * Validates each file under `env` (the process environment by default, as `run` sees it) and returns one output
 * line per issue (`file:line:column: path: message`) or `file: ok`. An issue reached from two files (a policy
 * given on the command line and named by a bootstrap) is printed once. `ok` is true when every file is valid;
 * false for no files at all. Never throws for unreadable files.
 */
export async function validateFiles(
  paths: readonly string[],
  env: Env = process.env,
): Promise<{ ok: boolean; output: string[] }> {
  if (paths.length === 0) return { ok: false, output: ['no files to validate'] };
  const output: string[] = [];
  const printed = new Set<string>();
  let ok = true;
  for (const path of paths) {
    const warnings: string[] = [];
    const issues = await validateOne(fileSource(path), env, warnings);
    output.push(...warnings);
    if (issues.length === 0) output.push(`${path}: ok`);
    else {
      ok = false;
      for (const line of issues.map(formatIssue)) {
        if (printed.has(line)) continue;
        printed.add(line);
        output.push(line);
      }
    }
  }
  return { ok, output };
}

async function validateOne(source: ConfigSource, env: Env, warnings: string[]): Promise<ConfigIssue[]> {
  const text = await readText(source);
  if (typeof text !== 'string') return [text];
  const kind = detectKind(text);
  const validator = validators[kind];
  if (validator === undefined) {
    return [{ file: source.name, line: 0, column: 0, path: '', message: `${kind} files cannot be validated yet` }];
  }
  // Hand the validator the text already read, so a file replaced meanwhile is not checked as another version.
  return validator(staticSource(source.name, text), env, warnings);
}
