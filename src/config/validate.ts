// SPDX-License-Identifier: Apache-2.0
// `meshlet validate FILE...`: checks config files of any known kind and prints every issue, compiler-style.

import { isMap, isScalar, parseDocument } from 'yaml';
import { formatIssue, type ConfigIssue } from './errors.js';
import { loadBootstrap, readText } from './load.js';
import { loadPolicy } from '../policy/load.js';
import { fileSource, staticSource, type ConfigSource } from './source.js';

/** The kinds of config file meshlet reads. */
export type ConfigKind = 'bootstrap' | 'policy';

/** Checks one document; resolves to its issues (none when valid). */
export type Validator = (source: ConfigSource) => Promise<ConfigIssue[]>;

/**
 * One validator per kind. Files are checked on their own: env overrides are not applied, so a file that is
 * only valid with some env set is reported as it is.
 */
export const validators: { readonly [K in ConfigKind]?: Validator } = {
  bootstrap: async (source) => {
    const result = await loadBootstrap(source, {});
    return result.ok ? [] : result.errors;
  },
  // Policy files: the same pipeline as hot reload, cross-field checks included.
  policy: async (source) => {
    const result = await loadPolicy(source);
    return result.ok ? [] : result.errors;
  },
};

/** Top-level keys only a policy document has (policy/schema.ts); none of them is a bootstrap key. */
const POLICY_KEYS: ReadonlySet<unknown> = new Set(['routes', 'backends', 'defaults', 'authz']);

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
 */
export async function validateFiles(paths: readonly string[]): Promise<{ ok: boolean; output: string[] }> {
  if (paths.length === 0) return { ok: false, output: ['no files to validate'] };
  const output: string[] = [];
  let ok = true;
  for (const path of paths) {
    const issues = await validateOne(fileSource(path));
    if (issues.length === 0) output.push(`${path}: ok`);
    else {
      ok = false;
      output.push(...issues.map(formatIssue));
    }
  }
  return { ok, output };
}

async function validateOne(source: ConfigSource): Promise<ConfigIssue[]> {
  const text = await readText(source);
  if (typeof text !== 'string') return [text];
  const kind = detectKind(text);
  const validator = validators[kind];
  if (validator === undefined) {
    return [{ file: source.name, line: 0, column: 0, path: '', message: `${kind} files cannot be validated yet` }];
  }
  // Hand the validator the text already read, so a file replaced meanwhile is not checked as another version.
  return validator(staticSource(source.name, text));
}
