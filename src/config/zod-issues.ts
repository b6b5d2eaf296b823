// SPDX-License-Identifier: Apache-2.0
// Turns zod issues into ConfigIssues that point into the YAML file (or name the env var that supplied the value),
// with messages written for people editing YAML: unknown keys named and corrected, missing keys called missing.

import { z } from 'zod';
import { formatPath, type ConfigIssue } from './errors.js';
import { closest } from './suggest.js';
import { positionOf, type ParsedYaml } from './yaml-document.js';

/** What zod's issue becomes before it gets a position. */
interface Draft {
  path: PropertyKey[];
  message: string;
  /** Point at the key rather than the value (unknown and invalid keys). */
  atKey: boolean;
}

/** What mapping needs besides the issues: the document (for positions), the schema, the env origins. */
export interface IssueContext {
  parsed: ParsedYaml;
  /** The schema that produced the issues; used to list the keys an object allows. */
  schema: z.ZodType;
  /** Paths whose value came from an env var: issues at or under them name the variable. */
  fromEnv: readonly { variable: string; path: readonly PropertyKey[] }[];
}

/** Maps every zod issue (nested union and record-key issues included) to ConfigIssues, in zod's order. */
export function toConfigIssues(issues: readonly z.core.$ZodIssue[], ctx: IssueContext): ConfigIssue[] {
  return issues.flatMap((i) => toDrafts(i, [], ctx.schema)).map((d) => place(d, ctx));
}

function toDrafts(issue: z.core.$ZodIssue, prefix: PropertyKey[], schema: z.ZodType): Draft[] {
  const path = [...prefix, ...issue.path];
  const last = path.at(-1);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = keysAt(schema, path);
      return issue.keys.map((k) => ({ path: [...path, k], message: unknownKey(k, known), atKey: true }));
    }
    case 'invalid_key':
      return [
        {
          path,
          message: `invalid key "${String(last)}": ${issue.issues.map((i) => tidy(i.message)).join('; ')}`,
          atKey: true,
        },
      ];
    case 'invalid_union': {
      // zod already unwraps a union whose input matched one branch's type; what is left here matched none.
      const typeMismatch = (branch: z.core.$ZodIssue[]) =>
        branch.length === 1 && branch[0]?.code === 'invalid_type' && branch[0].path.length === 0;
      if (issue.errors.length > 0 && issue.errors.every(typeMismatch)) {
        const expected = issue.errors.map((b) => (b[0] as z.core.$ZodIssueInvalidType).expected);
        const message = `expected ${expected.join(' or ')}, received ${typeName(issue.input)}`;
        return [{ path, message, atKey: false }];
      }
      const partial = issue.errors.filter((b) => !typeMismatch(b)).flat();
      if (partial.length > 0) return partial.flatMap((i) => toDrafts(i, path, schema));
      return [{ path, message: tidy(issue.message), atKey: false }];
    }
    case 'invalid_type':
      if (issue.input === undefined && last !== undefined) {
        return [{ path, message: `missing required key "${String(last)}"`, atKey: false }];
      }
      return [{ path, message: tidy(issue.message), atKey: false }];
    default:
      return [{ path, message: tidy(issue.message), atKey: false }];
  }
}

function place(d: Draft, ctx: IssueContext): ConfigIssue {
  const path = formatPath(d.path);
  const env = ctx.fromEnv.find((o) => o.path.every((seg, i) => d.path[i] === seg));
  if (env) return { file: env.variable, line: 0, column: 0, path, message: d.message };
  const { line, column } = positionOf(ctx.parsed, d.path, d.atKey);
  return { file: ctx.parsed.name, line, column, path, message: d.message };
}

function unknownKey(key: string, known: readonly string[]): string {
  const guess = closest(key, known);
  if (guess !== undefined) return `unknown key "${key}" (did you mean "${guess}"?)`;
  return known.length > 0 ? `unknown key "${key}"; allowed here: ${known.join(', ')}` : `unknown key "${key}"`;
}

/** zod's default messages start with a category ("Invalid input: expected string, ..."): keep the useful part. */
function tidy(message: string): string {
  return message.replace(/^(Invalid input|Invalid option|Too small|Too big): /, '');
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** The keys the object schema at `path` allows (through defaults, optionals, records, arrays and unions). */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let here = expand(schema);
  for (const seg of path) {
    here = here.flatMap((s): z.ZodType[] => {
      if (s instanceof z.ZodObject) {
        const child = (s.shape as Record<string, z.ZodType>)[String(seg)];
        return child ? expand(child) : [];
      }
      if (s instanceof z.ZodRecord) return expand(s.valueType as z.ZodType);
      if (s instanceof z.ZodArray && typeof seg === 'number') return expand(s.element as z.ZodType);
      return [];
    });
  }
  return [...new Set(here.flatMap((s) => (s instanceof z.ZodObject ? Object.keys(s.shape) : [])))];
}

/** A schema without its wrappers; a union becomes its options. */
function expand(s: z.ZodType): z.ZodType[] {
  if (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) {
    return expand(s.unwrap() as z.ZodType);
  }
  if (s instanceof z.ZodPipe) return expand(s.in as z.ZodType);
  if (s instanceof z.ZodUnion) return (s.options as readonly z.ZodType[]).flatMap(expand);
  return [s];
}
