// SPDX-License-Identifier: Apache-2.0
// The checks of the `authz` section that span fields or need parsing: SPIFFE ID patterns, exactly one test per
// metadata condition, regexes that compile and stay in the bounded subset, unique rule names. Pure; called by the
// policy loader's cross-field pass (src/policy/load.ts), which places each issue at file:line:column.

import { parseIdentityPattern } from '../spiffe/pattern.js';
import type { AuthzPolicy } from './schema.js';

/** One issue, at a path inside the policy document. */
export interface AuthzIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** At most this many unbounded quantifiers (`*`, `+`, `{n,}`) per regex: backtracking is polynomial in their count. */
export const MAX_UNBOUNDED_QUANTIFIERS = 3;

/** Every issue of `authz` (the section of a schema-valid policy), in document order. */
export function authzIssues(authz: AuthzPolicy | undefined): AuthzIssue[] {
  if (authz === undefined) return [];
  const out: AuthzIssue[] = [];
  const names = new Map<string, number>();
  (authz.rules ?? []).forEach((rule, i) => {
    const at = ['authz', 'rules', i];
    if (rule.name !== undefined) {
      const first = names.get(rule.name);
      if (first !== undefined) out.push({ path: [...at, 'name'], message: `name "${rule.name}" is already used by rules[${first}]` });
      else names.set(rule.name, i);
    }
    (rule.identities ?? []).forEach((text, j) => {
      const p = parseIdentityPattern(text);
      if (typeof p === 'string') out.push({ path: [...at, 'identities', j], message: p });
    });
    if (rule.unauthenticated === false && rule.identities === undefined) {
      out.push({ path: [...at, 'unauthenticated'], message: '`unauthenticated: false` alone matches every caller; omit it, or name `identities`' });
    }
    (rule.metadata ?? []).forEach((m, k) => {
      const tests = [m.equals, m.present, m.regex].filter((t) => t !== undefined).length;
      if (tests !== 1) {
        out.push({ path: [...at, 'metadata', k], message: `give exactly one of equals, present, regex (found ${tests})` });
        return;
      }
      if (m.regex !== undefined) {
        const problem = regexProblem(m.regex);
        if (problem !== undefined) out.push({ path: [...at, 'metadata', k, 'regex'], message: problem });
      }
    });
  });
  return out;
}

/**
 * Why `source` is not an acceptable condition regex, or undefined when it is. Accepted: what compiles as a
 * JavaScript RegExp (unicode mode) without backreferences or lookaround, where no quantified group contains a
 * quantifier or `|` (star height 1 and no ambiguous repeated alternation: the shapes of catastrophic backtracking),
 * with at most MAX_UNBOUNDED_QUANTIFIERS unbounded quantifiers.
 */
export function regexProblem(source: string): string | undefined {
  try {
    new RegExp(source, 'u');
  } catch (err) {
    return `invalid regular expression: ${(err as Error).message}`;
  }
  // Scan once, skipping escapes and character classes; one frame per open group.
  const groups: { inner: boolean }[] = [];
  let unbounded = 0;
  let lastGroupInner: boolean | undefined; // set right after a ')' closes a group
  for (let i = 0; i < source.length; i++) {
    const c = source[i] as string;
    const afterGroup = lastGroupInner;
    lastGroupInner = undefined;
    if (c === '\\') {
      const n = source[i + 1] ?? '';
      if (/[1-9]/.test(n) || n === 'k') return 'backreferences are not allowed';
      i++;
      continue;
    }
    if (c === '[') {
      // Skip the class: up to the first unescaped ']' (a leading ']' is literal only outside unicode mode).
      for (i++; i < source.length && source[i] !== ']'; i++) if (source[i] === '\\') i++;
      continue;
    }
    if (c === '(') {
      if (source.startsWith('(?=', i) || source.startsWith('(?!', i) || source.startsWith('(?<=', i) || source.startsWith('(?<!', i)) {
        return 'lookaround is not allowed';
      }
      groups.push({ inner: false });
      // Skip a group's prefix: `(?:` or `(?<name>`.
      if (source[i + 1] === '?') i = source[i + 2] === '<' ? source.indexOf('>', i) : i + 2;
      continue;
    }
    if (c === ')') {
      const g = groups.pop();
      lastGroupInner = g?.inner ?? false;
      if (g !== undefined && groups.length > 0) (groups[groups.length - 1] as { inner: boolean }).inner ||= g.inner;
      continue;
    }
    const quantifier = c === '*' || c === '+' || c === '?' || (c === '{' && /^\{\d+(,\d*)?\}/.test(source.slice(i)));
    if (c === '|' && groups.length > 0) (groups[groups.length - 1] as { inner: boolean }).inner = true;
    if (!quantifier) continue;
    // A lazy or possessive marker after a quantifier is not a quantifier itself.
    const prev = source[i - 1];
    if (c === '?' && (prev === '*' || prev === '+' || prev === '?' || prev === '}')) continue;
    if (afterGroup === true) return 'a quantified group may not contain a quantifier or `|` (catastrophic backtracking)';
    if (c === '*' || c === '+' || (c === '{' && /^\{\d+,\}/.test(source.slice(i)))) unbounded++;
    if (groups.length > 0) (groups[groups.length - 1] as { inner: boolean }).inner = true;
    if (c === '{') i = source.indexOf('}', i);
  }
  if (unbounded > MAX_UNBOUNDED_QUANTIFIERS) return `at most ${MAX_UNBOUNDED_QUANTIFIERS} unbounded quantifiers (*, +, {n,}) are allowed, found ${unbounded}`;
  return undefined;
}
