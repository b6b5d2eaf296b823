// SPDX-License-Identifier: Apache-2.0
// Config issues: one problem in a config file (or env var) with its position, and its one-line, compiler-style form.

/**
 * One problem found while loading a config. Loading reports every issue it can find, not only the first.
 *
 * - `file`: the source name (usually the file path), or the env var name when the bad value came from the env.
 * - `line`, `column`: 1-based position in `file`; both 0 when there is no position (env values, unreadable files).
 * - `path`: where in the document, e.g. `upstreams.user-service.endpoints[0]`; `''` for the document itself.
 * - `message`: what is wrong, one line, no trailing period.
 */
export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  path: string;
  message: string;
}

/**
 * `file:line:column: path: message`, the shape editors and CI annotate. The position is left out when it is 0
 * (`MESHLET_ADMIN_LISTEN: admin.listen: ...`) and the path when it is empty (`sidecar.yaml:3:1: message`).
 */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** Orders issues by file, then line, then column (stable: equal positions keep their order). */
export function compareIssues(a: ConfigIssue, b: ConfigIssue): number {
  return a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column;
}

/** A path as written in issues: `a.b[0]`; keys that are not plain words are quoted: `upstreams["a b"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z0-9_-]+$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}
