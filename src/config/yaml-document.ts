// SPDX-License-Identifier: Apache-2.0
// YAML side of config loading: parse text into a document that remembers source positions, report syntax errors
// and duplicate keys as issues, and find the line:column of any path (so schema issues point into the file).

import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { formatPath, type ConfigIssue } from './errors.js';
import { explainIndentError } from './yaml-indent.js';

/** A parsed config document; `data` is the plain JS value (`null` for an empty document). */
export interface ParsedYaml {
  readonly name: string;
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
  readonly data: unknown;
}

/** A parsed document plus its duplicate-key issues, or the issues that stopped the parse. */
export type ParseResult =
  | { ok: true; parsed: ParsedYaml; issues: ConfigIssue[] }
  | { ok: false; issues: ConfigIssue[] };

/**
 * Parses one YAML document (YAML 1.2 core schema: `yes`/`on` stay strings). Syntax errors, warnings (e.g. unknown
 * tags) and multiple documents fail the parse; an indentation error points at the offending key, with its path.
 * Duplicate keys do not fail it: they come back in `issues` next to the parsed document, so schema validation can
 * still report everything else in the same run.
 */
export function parseYaml(name: string, text: string): ParseResult {
  const lines = new LineCounter();
  // uniqueKeys off: duplicates are found by findDuplicateKeys, which also knows their path.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    const issues = new Map<string, ConfigIssue>();
    for (const e of problems) {
      const { line, col } = lines.linePos(e.pos[0]);
      // Indentation errors point at the offending key, with its path (yaml-indent.ts); one issue per key.
      const indent = explainIndentError(text, { code: e.code, line, column: col });
      const issue = indent === undefined ? { file: name, line, column: col, path: '', message: e.message } : { file: name, ...indent };
      const key = `${issue.line}:${issue.column}:${indent === undefined ? issue.message : ''}`;
      if (!issues.has(key)) issues.set(key, issue);
    }
    return { ok: false, issues: [...issues.values()] };
  }
  let data: unknown;
  try {
    // maxAliasCount bounds alias expansion ("billion laughs"); toJS throws past it.
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, issues: [{ file: name, line: 1, column: 1, path: '', message }] };
  }
  const parsed: ParsedYaml = { name, doc, lines, data };
  return { ok: true, parsed, issues: findDuplicateKeys(parsed) };
}

/** Where a path lands in the document: the value node (if the whole path exists) and the key naming it. */
interface Located {
  /** How many leading path segments were found. */
  depth: number;
  node: Node | null;
  key: Node | null;
}

function locate(parsed: ParsedYaml, path: readonly PropertyKey[]): Located {
  let node = resolve(parsed, parsed.doc.contents);
  let key: Node | null = null;
  let depth = 0;
  for (const seg of path) {
    let next: { key: Node | null; value: Node | null } | undefined;
    if (isMap(node)) {
      const pair = node.items.findLast((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair) next = { key: pair.key as Node, value: resolve(parsed, pair.value as Node | null) };
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item !== undefined) next = { key: null, value: resolve(parsed, item as Node | null) };
    }
    if (next === undefined) break;
    node = next.value;
    key = next.key;
    depth++;
  }
  return { depth, node, key };
}

function resolve(parsed: ParsedYaml, node: Node | null | undefined): Node | null {
  if (isAlias(node)) return (node.resolve(parsed.doc) as Node | undefined) ?? node;
  return node ?? null;
}

/**
 * The line and column an issue at `path` should point at:
 * - a scalar value that exists: the value itself;
 * - a map, list or empty value: its key (the `balancing:` line reads better than its first child);
 * - a path that does not exist (a missing key): the key of its deepest existing ancestor;
 * - with `pointAtKey`, the key even for scalars (unknown and invalid keys).
 * Falls back to the start of the document, or 1:1.
 */
export function positionOf(
  parsed: ParsedYaml,
  path: readonly PropertyKey[],
  pointAtKey = false,
): { line: number; column: number } {
  const at = locate(parsed, path);
  const valueFirst = at.depth === path.length && !pointAtKey && isScalar(at.node) && at.node.value !== null;
  const target = valueFirst ? at.node : (at.key ?? at.node);
  const offset = target?.range?.[0];
  if (offset === undefined) return { line: 1, column: 1 };
  const { line, col } = parsed.lines.linePos(offset);
  return { line, column: col };
}

function findDuplicateKeys(parsed: ParsedYaml): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const walk = (node: unknown, path: PropertyKey[]): void => {
    if (isMap(node)) {
      const firstLine = new Map<string, number>();
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        const name = String(pair.key.value);
        const { line, col } = parsed.lines.linePos(pair.key.range?.[0] ?? 0);
        const first = firstLine.get(name);
        if (first === undefined) firstLine.set(name, line);
        else {
          issues.push({
            file: parsed.name,
            line,
            column: col,
            path: formatPath([...path, name]),
            message: `duplicate key "${name}" (first defined on line ${first})`,
          });
        }
        walk(pair.value, [...path, name]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    }
  };
  walk(parsed.doc.contents, []);
  return issues;
}
