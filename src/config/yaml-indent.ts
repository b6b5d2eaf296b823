// SPDX-License-Identifier: Apache-2.0
// Indentation errors, explained: the yaml parser reports them at the start of a line (or at the value before the
// offending key) with no path. This points at the offending key itself, names its path from the indentation of the
// lines above, and says what the indentation should be. Used by yaml-document.ts for syntax errors only.

import { formatPath } from './errors.js';

/** A syntax error as the yaml parser reports it: its code and the 1-based line:column it gives. */
export interface YamlSyntaxError {
  readonly code: string;
  readonly line: number;
  readonly column: number;
}

/** Where the offending key is, its path, and what is wrong with it. */
export interface IndentIssue {
  readonly line: number;
  readonly column: number;
  readonly path: string;
  readonly message: string;
}

/** One significant line (not blank, not a comment): its key if it has one, where that key starts, and its value. */
interface Line {
  readonly index: number;
  /** 0-based column of the first character (the `-` of a list item). */
  readonly indent: number;
  readonly seqItem: boolean;
  /** 0-based column of the key (after `- ` for a list item); undefined when the line has no `key:`. */
  readonly keyColumn: number | undefined;
  readonly key: string | undefined;
  /** True when something follows `key:` on the same line (a scalar or a flow collection). */
  readonly hasValue: boolean;
  readonly tabIndent: boolean;
}

const KEY = /^(?:"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)'|([^\s#'"[\]{},:][^#:]*?|[^\s#'"[\]{},]))\s*:(?:\s+(.*))?$/;

function scan(text: string): (Line | undefined)[] {
  return text.split(/\r?\n/).map((raw, index): Line | undefined => {
    const body = raw.replace(/^[ \t]*/, '');
    if (body === '' || body.startsWith('#')) return undefined;
    const indent = raw.length - body.length;
    const tabIndent = raw.slice(0, indent).includes('\t');
    const seqItem = /^-(\s|$)/.test(body);
    const rest = seqItem ? body.replace(/^-\s*/, '') : body;
    const keyColumn = indent + (body.length - rest.length);
    const m = KEY.exec(rest.replace(/\s+#.*$/, ''));
    if (m === null) return { index, indent, seqItem, keyColumn: undefined, key: undefined, hasValue: false, tabIndent };
    const key = m[1] ?? m[2]?.replaceAll("''", "'") ?? (m[3] as string).trim();
    return { index, indent, seqItem, keyColumn, key, hasValue: (m[4] ?? '').trim() !== '', tabIndent };
  });
}

/**
 * Explains an indentation error, or returns undefined when `error` is not one this recognises (the caller then
 * keeps the parser's own report). Recognised: `BAD_INDENT` (a key between two indentation levels), `TAB_AS_INDENT`,
 * and `BLOCK_AS_IMPLICIT_KEY`/`MULTILINE_IMPLICIT_KEY` caused by a key indented under a key that has a scalar value.
 */
export function explainIndentError(text: string, error: YamlSyntaxError): IndentIssue | undefined {
  const lines = scan(text);
  const at = error.line - 1;
  let target: Line | undefined;
  if (error.code === 'BAD_INDENT' || error.code === 'TAB_AS_INDENT') target = lines[at];
  else if (error.code === 'BLOCK_AS_IMPLICIT_KEY' || error.code === 'MULTILINE_IMPLICIT_KEY') {
    // Reported at the value before the offending key: the key is on the next significant line.
    target = lines.slice(at + 1).find((l) => l !== undefined);
  } else return undefined;
  if (target === undefined || target.key === undefined || target.keyColumn === undefined) return undefined;

  const ancestors = ancestorsOf(lines, target);
  const path = formatPath([...ancestors.map((a) => a.segment), target.key]);
  const where = { line: target.index + 1, column: target.keyColumn + 1, path };
  const key = JSON.stringify(target.key);
  if (error.code === 'TAB_AS_INDENT' || target.tabIndent) {
    return { ...where, message: `${key} is indented with a tab; YAML indents with spaces only` };
  }
  const parent = ancestors.at(-1);
  if (error.code === 'BAD_INDENT') {
    const siblings = firstChild(lines, parent?.line, target);
    const parentName = parent === undefined ? 'the top level' : JSON.stringify(parent.name);
    const expected = siblings === undefined ? '' : `the keys under ${parentName} are at column ${siblings + 1}`;
    const outer = parent === undefined ? '' : `, ${parentName} itself at column ${parent.column + 1}`;
    return { ...where, message: `bad indentation: ${key} is at column ${target.keyColumn + 1}, but ${expected || 'it matches no level'}${outer}` };
  }
  // A key indented under a key that already has a value on its line.
  if (parent === undefined || !parent.hasValue) return undefined;
  return {
    ...where,
    message:
      `${key} is indented under ${JSON.stringify(parent.name)}, which already has a value on its line; ` +
      `align it with ${JSON.stringify(parent.name)} (column ${parent.column + 1}) or remove that value`,
  };
}

interface Ancestor {
  readonly segment: string | number;
  /** The key's name (for a list item: the item's first key). */
  readonly name: string;
  readonly line: Line;
  /** 0-based column of the key or item. */
  readonly column: number;
  readonly hasValue: boolean;
}

/** The keys and list items `target` is nested in, outermost first, judged by indentation alone. */
function ancestorsOf(lines: readonly (Line | undefined)[], target: Line): Ancestor[] {
  const out: Ancestor[] = [];
  let column = target.keyColumn as number;
  for (let i = target.index - 1; i >= 0 && column > 0; i--) {
    const l = lines[i];
    if (l === undefined || l.keyColumn === undefined) continue;
    if (l.key !== undefined && l.keyColumn < column) {
      out.unshift({ segment: l.key, name: l.key, line: l, column: l.keyColumn, hasValue: l.hasValue });
      column = l.keyColumn;
    }
    if (l.seqItem && l.indent < column) {
      out.unshift({ segment: itemIndex(lines, l), name: `${l.key ?? ''}`, line: l, column: l.indent, hasValue: false });
      column = l.indent;
    }
  }
  return out;
}

/** The index of list item `item` among the items at its indentation in the same list. */
function itemIndex(lines: readonly (Line | undefined)[], item: Line): number {
  let n = 0;
  for (let i = item.index - 1; i >= 0; i--) {
    const l = lines[i];
    if (l === undefined) continue;
    if (l.indent < item.indent) break;
    if (l.indent === item.indent && l.seqItem) n++;
    else if (l.indent === item.indent) break;
  }
  return n;
}

/** 0-based column of the first key under `parent` (the top level when undefined) other than `target`. */
function firstChild(lines: readonly (Line | undefined)[], parent: Line | undefined, target: Line): number | undefined {
  const from = parent === undefined ? 0 : parent.index + 1;
  const parentColumn = parent?.keyColumn ?? -1;
  for (let i = from; i < lines.length; i++) {
    const l = lines[i];
    if (l === undefined || l === target || l.keyColumn === undefined) continue;
    if (l.indent <= parentColumn) return undefined;
    return l.seqItem ? l.indent : l.keyColumn;
  }
  return undefined;
}
