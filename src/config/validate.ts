// SPDX-License-Identifier: Apache-2.0
// `meshlet validate FILE...`: checks config files of any known kind and prints every issue, compiler-style.
// The policy loader comes in as a parameter, so config/ does not depend on policy/ (which builds on config/).

import { isMap, isScalar, parseDocument } from 'yaml';
import { formatIssue, type ConfigIssue } from './errors.js';
import { loadBootstrap, readText, type LoadResult } from './load.js';
import { fileSource, staticSource, type ConfigSource } from './source.js';

/** The kinds of config file meshlet reads. */
export type ConfigKind = 'bootstrap' | 'policy';

/** Loads a policy document: policy/load.ts `loadPolicy`, the same pipeline as hot reload, cross-field checks included. */
export type PolicyLoader = (source: ConfigSource) => Promise<LoadResult<unknown>>;

/** Top-level keys only a policy document has (policy/schema.ts); none of them is a bootstrap key. */
const POLICY_KEYS: ReadonlySet<unknown> = new Set(['routes', 'backends', 'defaults']);

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
 * Validates each file and returns one output line per issue (`file:line:column: path: message`) or `file: ok`.
 * `ok` is true when every file is valid; false for no files at all. Never throws for unreadable files.
 * Files are checked on their own: env overrides are not applied, so a bootstrap that is only valid with some env
 * set is reported as it is.
 */
export async function validateFiles(paths: readonly string[], loadPolicy: PolicyLoader): Promise<{ ok: boolean; output: string[] }> {
  if (paths.length === 0) return { ok: false, output: ['no files to validate'] };
  const output: string[] = [];
  let ok = true;
  for (const path of paths) {
    const issues = await validateOne(fileSource(path), loadPolicy);
    if (issues.length === 0) output.push(`${path}: ok`);
    else {
      ok = false;
      output.push(...issues.map(formatIssue));
    }
  }
  return { ok, output };
}

async function validateOne(source: ConfigSource, loadPolicy: PolicyLoader): Promise<ConfigIssue[]> {
  const text = await readText(source);
  if (typeof text !== 'string') return [text];
  // Hand the loader the text already read, so a file replaced meanwhile is not checked as another version.
  const read = staticSource(source.name, text);
  const result = detectKind(text) === 'policy' ? await loadPolicy(read) : await loadBootstrap(read, {});
  return result.ok ? [] : result.errors;
}
