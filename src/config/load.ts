// SPDX-License-Identifier: Apache-2.0
// The one load pipeline for every YAML config document: read → parse YAML (positions kept) → prepare (bootstrap:
// env overrides) → validate the kind's schema → the kind's cross-field checks → deep-freeze. A kind supplies only
// its schema and checks (the bootstrap here, the policy in policy/load.ts), so every problem of every kind is
// reported the same way: file:line:column: path: message.
// Never throws for a bad document: every problem comes back as a ConfigIssue, and the caller decides what to do.

import type { z } from 'zod';
import { applyEnvOverrides } from './env.js';
import { compareIssues, formatPath, type ConfigIssue } from './errors.js';
import { bootstrapSchema, type BootstrapConfig } from './schema.js';
import type { ConfigSource, Env } from './source.js';
import { parseYaml, positionOf, type ParsedYaml } from './yaml-document.js';
import { toConfigIssues } from './zod-issues.js';

/** A loaded config (defaults applied, deep-frozen) or every issue found, sorted by file position. */
export type LoadResult<T = BootstrapConfig> = { ok: true; config: T } | { ok: false; errors: ConfigIssue[] };

/** A problem a cross-field check found, at its path in the document (the pipeline adds the position). */
export interface FieldIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** The parsed data after a kind's preparation, with the issues it found and the paths env variables supplied. */
export interface Prepared {
  readonly data: unknown;
  readonly issues: readonly ConfigIssue[];
  /** Paths whose value came from an env var: schema issues at or under them name the variable. */
  readonly fromEnv: readonly { variable: string; path: readonly PropertyKey[] }[];
}

/** What one kind of document supplies to the pipeline. */
export interface DocumentKind<S extends z.ZodType> {
  /** The strict schema: unknown keys rejected, defaults applied. */
  readonly schema: S;
  /** The issue for an empty document, so a file truncated mid-write is never taken for "nothing set". */
  readonly emptyMessage: string;
  /** Rewrites the parsed data before validation (the bootstrap's env overrides); default: the data as parsed. */
  readonly prepare?: (data: unknown) => Prepared;
  /** Rules that span fields, run only once the schema holds; default none. */
  readonly crossFieldIssues?: (config: z.output<S>) => readonly FieldIssue[];
}

/**
 * Reads `source` and runs the pipeline of `kind` over its text. Reports every issue at once, sorted by position:
 * an unreadable source or YAML syntax errors alone (the rest of a broken document means little), else duplicate
 * keys, preparation issues and every schema issue together, then (once the schema holds) the cross-field issues.
 */
export async function loadDocument<S extends z.ZodType>(source: ConfigSource, kind: DocumentKind<S>): Promise<LoadResult<z.output<S>>> {
  const text = await readText(source);
  if (typeof text !== 'string') return { ok: false, errors: [text] };
  return loadDocumentText(source.name, text, kind);
}

/** The same as `loadDocument` for text already read; `name` is the file named in issues. */
export function loadDocumentText<S extends z.ZodType>(name: string, text: string, kind: DocumentKind<S>): LoadResult<z.output<S>> {
  const parse = parseYaml(name, text);
  if (!parse.ok) return { ok: false, errors: parse.issues };
  const { parsed } = parse;
  if (parsed.data === null || parsed.data === undefined) {
    return { ok: false, errors: [{ file: name, line: 1, column: 1, path: '', message: kind.emptyMessage }] };
  }
  const prepared = kind.prepare?.(parsed.data) ?? { data: parsed.data, issues: [], fromEnv: [] };
  const result = validateParsed(kind.schema, parsed, prepared.data, {
    issues: [...parse.issues, ...prepared.issues],
    fromEnv: prepared.fromEnv,
  });
  if (!result.ok || kind.crossFieldIssues === undefined) return result;
  const issues = kind.crossFieldIssues(result.config).map((i) => place(parsed, i));
  return issues.length > 0 ? { ok: false, errors: issues.sort(compareIssues) } : result;
}

/**
 * Loads the bootstrap config from `source`, with the `MESHLET_*` and `CONSUL_*` overrides from `env` (see
 * env.ts; pass `{}` to ignore the environment). Reports every issue at once (see `loadDocument`); env problems
 * are reported with the schema issues.
 * The config is a deep-frozen copy that shares nothing with the schema's default values.
 */
export function loadBootstrap(source: ConfigSource, env: Env = process.env): Promise<LoadResult> {
  return loadDocument(source, {
    schema: bootstrapSchema,
    emptyMessage: 'the document is empty; a bootstrap needs "service" and one of "inbound" or "outbound"',
    prepare: (data) => {
      const overridden = applyEnvOverrides(data, env);
      return { data: overridden.data, issues: overridden.issues, fromEnv: overridden.applied };
    },
  });
}

/** Runs `schema` over `data` and merges its issues with `earlier` ones; on success freezes a private copy. */
function validateParsed<S extends z.ZodType>(
  schema: S,
  parsed: ParsedYaml,
  data: unknown,
  earlier: { issues: ConfigIssue[]; fromEnv: Prepared['fromEnv'] },
): LoadResult<z.output<S>> {
  // reportInput: the mapper tells a missing key (input undefined) from a wrong value.
  const result = schema.safeParse(data, { reportInput: true });
  const schemaIssues = result.success
    ? []
    : toConfigIssues(result.error.issues, { parsed, schema, fromEnv: earlier.fromEnv });
  const errors = [...earlier.issues, ...schemaIssues].sort(compareIssues);
  if (errors.length > 0 || !result.success) return { ok: false, errors };
  // structuredClone: zod hands out (shallow copies of) the schema's default objects; freezing those in place
  // would freeze the schema's own defaults.
  return { ok: true, config: deepFreeze(structuredClone(result.data)) };
}

function place(parsed: ParsedYaml, issue: FieldIssue): ConfigIssue {
  const { line, column } = positionOf(parsed, issue.path);
  return { file: parsed.name, line, column, path: formatPath(issue.path), message: issue.message };
}

/** The source's text, or an issue saying why it could not be read. */
export async function readText(source: ConfigSource): Promise<string | ConfigIssue> {
  try {
    return await source.read();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { file: source.name, line: 0, column: 0, path: '', message: `cannot read: ${reason}` };
  }
}

/** Freezes `value` and everything reachable from it; returns it. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
