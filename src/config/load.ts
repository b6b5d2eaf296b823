// SPDX-License-Identifier: Apache-2.0
// The bootstrap load pipeline: read → parse YAML → env overrides → validate everything → defaults →
// deep-freeze.
// Never throws for a bad config: every problem comes back as a ConfigIssue, and main.ts decides to exit.

import type { z } from 'zod';
import { applyEnvOverrides } from './env.js';
import { compareIssues, type ConfigIssue } from './errors.js';
import { bootstrapSchema, type BootstrapConfig } from './schema.js';
import type { ConfigSource, Env } from './source.js';
import { parseYaml, type ParsedYaml } from './yaml-document.js';
import { toConfigIssues } from './zod-issues.js';

/** A loaded config (defaults applied, deep-frozen) or every issue found, sorted by file position. */
export type LoadResult<T = BootstrapConfig> = { ok: true; config: T } | { ok: false; errors: ConfigIssue[] };

/**
 * Loads the bootstrap config from `source`, with the `MESHLET_*` and `CONSUL_*` overrides from `env` (see
 * env.ts; pass `{}` to ignore the environment). Reports every issue at once, sorted by position: YAML syntax
 * errors alone (the rest of a broken document means little), else duplicate keys, env problems and every schema
 * issue together.
 * The config is a deep-frozen copy that shares nothing with the schema's default values.
 */
export async function loadBootstrap(source: ConfigSource, env: Env = process.env): Promise<LoadResult> {
  const text = await readText(source);
  if (typeof text !== 'string') return { ok: false, errors: [text] };
  const parse = parseYaml(source.name, text);
  if (!parse.ok) return { ok: false, errors: parse.issues };
  if (isEmpty(parse.parsed)) {
    return {
      ok: false,
      errors: [
        {
          file: source.name,
          line: 1,
          column: 1,
          path: '',
          message: 'the document is empty; a bootstrap needs "service" and one of "inbound" or "outbound"',
        },
      ],
    };
  }
  const overridden = applyEnvOverrides(parse.parsed.data, env);
  return validateParsed(bootstrapSchema, parse.parsed, overridden.data, {
    issues: [...parse.issues, ...overridden.issues],
    fromEnv: overridden.applied,
  });
}

/** Runs `schema` over `data` and merges its issues with `earlier` ones; on success freezes a private copy. */
export function validateParsed<S extends z.ZodType>(
  schema: S,
  parsed: ParsedYaml,
  data: unknown,
  earlier: { issues: ConfigIssue[]; fromEnv: readonly { variable: string; path: readonly PropertyKey[] }[] },
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

/** The source's text, or an issue saying why it could not be read. */
export async function readText(source: ConfigSource): Promise<string | ConfigIssue> {
  try {
    return await source.read();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { file: source.name, line: 0, column: 0, path: '', message: `cannot read: ${reason}` };
  }
}

function isEmpty(parsed: ParsedYaml): boolean {
  return parsed.data === null || parsed.data === undefined;
}

/** Freezes `value` and everything reachable from it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
