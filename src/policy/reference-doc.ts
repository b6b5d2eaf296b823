// SPDX-License-Identifier: Apache-2.0
// The policy schema as JSON Schema (config/schema/policy.schema.json) and as the reference docs/policy.md, both
// generated from schema.ts and kept committed by a golden test (test/unit/policy/golden.test.ts), so neither can
// drift from what the loader accepts.

import { toJsonSchema, type JsonSchema } from '../config/json-schema.js';
import { policySchema } from './schema.js';

export const POLICY_JSON_SCHEMA_PATH = 'config/schema/policy.schema.json';
export const POLICY_DOC_PATH = 'docs/policy.md';

/** What users may write; the cross-field rules (load.ts) are only checked by `meshlet validate`. */
export function policyJsonSchema(): JsonSchema {
  const json = toJsonSchema(policySchema);
  return { $schema: json.$schema, title: 'meshlet policy (policy.yaml)', ...json };
}

export function policyJsonSchemaText(): string {
  return `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
}

interface Section {
  readonly path: string;
  readonly schema: JsonSchema;
  readonly depth: number;
}

/** The whole of docs/policy.md. Deterministic: same schema, same bytes. */
export function policyReference(): string {
  const root = policyJsonSchema();
  const out: string[] = [
    '# Policy reference: policy.yaml',
    '',
    '<!-- Generated from src/policy/schema.ts by src/policy/reference-doc.ts. Do not edit by hand:',
    '     change the schema, then run `UPDATE_GOLDEN=1 npx vitest run test/unit/policy`. -->',
    '',
    paragraph(root.description),
    '',
    'The bootstrap names the file (`policy.file` in sidecar.yaml). Check a file with `meshlet validate FILE`, see the',
    'effective settings of one call with `meshlet explain --config sidecar.yaml BACKEND/pkg.Service/Method`.',
    'Editors can use `config/schema/policy.schema.json`; `config/policy.yaml` is a commented example.',
    '',
    '## How values combine',
    '',
    'Every field is optional. The value in force for a call is, field by field, the first one set in: the route',
    'that matches the call, `backends.<name>` of its backend, `defaults`, the built-in default (the Default column).',
    'Lists (`retryOn`) are replaced, not merged. Exactly one route applies to a call: the most specific one',
    '(exact method, then `pkg.Service/*`, then any method; a route naming the backend beats one that does not).',
    'Two routes with the same match are an error.',
    '',
    'Per-backend protections (`retryBudget`, `limits`, `circuitBreaker`, `outlierDetection`) can be set in',
    '`defaults` and `backends.<name>` only: they count all calls to a backend together.',
    '',
    '## Modes',
    '',
    'Every protective feature has `mode`: `off` (no work per call), `shadow` (the decision is taken, counted and',
    'logged, but the call goes on unchanged) and `enforce`. Shadow mode is for trying a setting on live traffic.',
    '',
    '## Reload',
    '',
    'meshlet watches the directory of the file (Kubernetes ConfigMaps replace a symlink there), waits until changes',
    'settle (`policy.reloadDebounceMs`, default 200 ms), validates the whole file, then swaps it in at once. Calls in',
    'flight keep what they already decided. Breaker, budget, limit and ejection state carries over by backend and',
    'endpoint. An invalid file changes nothing: the issues are logged as `file:line:column: path: message` and',
    'counted (reload result `rejected`).',
  ];
  // A section that appears in several places (`retry` under defaults, backends and routes) is written once.
  const unique = new Map<string, { section: Section; paths: string[] }>();
  for (const s of sections({ path: '', schema: root, depth: 0 })) {
    const key = JSON.stringify(s.schema);
    const seen = unique.get(key);
    if (seen === undefined || s.path === '') unique.set(key, { section: s, paths: [s.path] });
    else seen.paths.push(s.path);
  }
  for (const { section, paths } of unique.values()) out.push('', ...renderSection(section, paths));
  return `${out.join('\n')}\n`;
}

function sections(s: Section): Section[] {
  const found: Section[] = [s];
  for (const [key, child] of Object.entries(s.schema.properties ?? {})) {
    const path = s.path === '' ? key : `${s.path}.${key}`;
    for (const nested of objectForms(path, child as JsonSchema, s.depth + 1)) found.push(...sections(nested));
  }
  return found;
}

function objectForms(path: string, schema: JsonSchema, depth: number): Section[] {
  if (schema.properties) return [{ path, schema, depth }];
  if (isSchema(schema.additionalProperties)) return objectForms(`${path}.<name>`, schema.additionalProperties, depth);
  if (isSchema(schema.items)) return objectForms(`${path}[]`, schema.items, depth);
  return [];
}

function renderSection(s: Section, paths: readonly string[]): string[] {
  const required = new Set(s.schema.required ?? []);
  const leaf = s.path.split('.').at(-1) ?? '';
  const title = s.path === '' ? 'Top level' : paths.length === 1 ? `\`${s.path}\`` : `\`${leaf}\``;
  const lines = [`${s.depth <= 1 ? '##' : '###'} ${title}`, ''];
  if (paths.length > 1) lines.push(`In ${paths.map((p) => `\`${p}\``).join(', ')}.`, '');
  if (s.path !== '' && s.schema.description) lines.push(paragraph(s.schema.description), '');
  lines.push('| Field | Type | Default | Description |', '| --- | --- | --- | --- |');
  for (const [key, raw] of Object.entries(s.schema.properties ?? {})) {
    const field = raw as JsonSchema;
    const def = required.has(key) ? '**required**' : defaultOf(field);
    lines.push(`| \`${key}\` | ${cell(typeOf(field))} | ${cell(def)} | ${cell(field.description ?? '')} |`);
  }
  return lines;
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' | ');
  switch (s.type) {
    case 'integer':
    case 'number':
      if (s.minimum === undefined || s.maximum === undefined) return String(s.type);
      return `${s.type} ${s.minimum}–${s.maximum}`;
    case 'array':
      return `list of ${isSchema(s.items) ? typeOf(s.items) : 'any'}`;
    case 'object':
      if (s.properties) return 'object';
      return `map of name → ${isSchema(s.additionalProperties) ? typeOf(s.additionalProperties) : 'any'}`;
    default:
      return s.type === undefined ? 'any' : String(s.type);
  }
}

function defaultOf(s: JsonSchema): string {
  if (s.default === undefined) return '—';
  return `\`${JSON.stringify(s.default)}\``;
}

function isSchema(v: unknown): v is JsonSchema {
  return typeof v === 'object' && v !== null;
}

function cell(s: string): string {
  return paragraph(s).replace(/\|/g, '\\|');
}

function paragraph(s: string | undefined): string {
  return (s ?? '')
    .replace(/\n/g, ' ')
    .split('`')
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/</g, '&lt;').replace(/>/g, '&gt;')))
    .join('`');
}
