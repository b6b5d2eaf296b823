// SPDX-License-Identifier: Apache-2.0
// Renders docs/configuration.md, the bootstrap config reference, from the JSON Schema (itself generated from
// schema.ts), so the reference can never drift from what the loader accepts. A golden test keeps it committed.

import { ENV_OVERRIDES } from './env.js';
import { bootstrapJsonSchema, type JsonSchema } from './json-schema.js';

/** Where the reference is committed, relative to the repository root. */
export const CONFIGURATION_DOC_PATH = 'docs/configuration.md';

interface Section {
  path: string;
  schema: JsonSchema;
  /** 0 for the root, 1 for its sections, and so on. */
  depth: number;
}

/** The whole of docs/configuration.md. Deterministic: same schema, same bytes. */
export function configurationReference(): string {
  const root = bootstrapJsonSchema();
  const out: string[] = [
    '# Configuration reference: sidecar.yaml',
    '',
    '<!-- Generated from src/config/schema.ts by src/config/reference-doc.ts. Do not edit by hand:',
    '     change the schema, then run `UPDATE_GOLDEN=1 npx vitest run test/unit/config`. -->',
    '',
    paragraph(root.description),
    '',
    'Check files with `meshlet validate FILE...`, which prints every problem as `file:line:column: path: message`.',
    `Editors can use the JSON Schema in \`config/schema/sidecar.schema.json\`; \`config/sidecar.yaml\` is a`,
    'commented example. Durations are integers in milliseconds (`...Ms`).',
    '',
    '## Environment overrides',
    '',
    'Applied to the file before validation; an empty variable counts as unset. A bad value is reported with the',
    'variable name in place of the file name.',
    '',
    '| Variable | Overrides | When the section is absent |',
    '| --- | --- | --- |',
    ...ENV_OVERRIDES.map((o) => `| \`${o.variable}\` | \`${o.path}\` | ${cell(o.note)} |`),
    '',
    'A bare `CONSUL_HTTP_ADDR` such as `127.0.0.1:8500` means `http://127.0.0.1:8500` (`https` when',
    '`CONSUL_HTTP_SSL=true`), as in the Consul CLI.',
  ];
  for (const s of sections({ path: '', schema: root, depth: 0 })) out.push('', ...renderSection(s));
  return `${out.join('\n')}\n`;
}

/** The object-shaped sections in document order: the root, then each object, map value and list item form. */
function sections(s: Section): Section[] {
  const found: Section[] = [s];
  for (const [key, child] of Object.entries(s.schema.properties ?? {})) {
    const path = s.path === '' ? key : `${s.path}.${key}`;
    for (const nested of objectForms(path, child as JsonSchema, s.depth + 1)) found.push(...sections(nested));
  }
  return found;
}

/** The sections a field's value opens: an object, the value of a map (`<name>`), or an object list item (`[]`). */
function objectForms(path: string, schema: JsonSchema, depth: number): Section[] {
  if (schema.properties) return [{ path, schema, depth }];
  if (isSchema(schema.additionalProperties)) return objectForms(`${path}.<name>`, schema.additionalProperties, depth);
  if (isSchema(schema.items)) return objectForms(`${path}[]`, schema.items, depth);
  return (schema.anyOf ?? []).flatMap((variant) => objectForms(path, variant as JsonSchema, depth));
}

function renderSection(s: Section): string[] {
  const required = new Set(s.schema.required ?? []);
  const title = s.path === '' ? 'Top level' : `\`${s.path}\``;
  const lines = [`${s.depth <= 1 ? '##' : '###'} ${title}`, ''];
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
  if (s.anyOf) return s.anyOf.map((v) => typeOf(v as JsonSchema)).join(' or ');
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
  const d: unknown = s.default;
  // A whole section's default is the defaults of its fields, listed in its own table.
  if (typeof d === 'object' && d !== null && Object.keys(d).length > 0) return 'see fields';
  return `\`${JSON.stringify(d)}\``;
}

function isSchema(v: unknown): v is JsonSchema {
  return typeof v === 'object' && v !== null;
}

/** Table-cell safe: no raw pipes or line breaks. */
function cell(s: string): string {
  return paragraph(s).replace(/\|/g, '\\|');
}

/** One line of Markdown; `<` and `>` outside code spans are escaped so `<name>` is not read as an HTML tag. */
function paragraph(s: string | undefined): string {
  return (s ?? '')
    .replace(/\n/g, ' ')
    .split('`')
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/</g, '&lt;').replace(/>/g, '&gt;')))
    .join('`');
}
