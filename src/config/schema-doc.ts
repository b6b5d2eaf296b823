// SPDX-License-Identifier: Apache-2.0
// Markdown reference pages from a JSON Schema: walks the object-shaped sections and renders one field table each.
// Shared by docs/configuration.md (src/config/reference-doc.ts) and docs/policy.md (src/policy/reference-doc.ts).

import type { JsonSchema } from './json-schema.js';

export interface SchemaSection {
  readonly path: string;
  readonly schema: JsonSchema;
  /** 0 for the root, 1 for its sections, and so on. */
  readonly depth: number;
}

/** The object-shaped sections in document order: the root, then each object, map value and list item form. */
export function schemaSections(root: JsonSchema): SchemaSection[] {
  return sections({ path: '', schema: root, depth: 0 });
}

function sections(s: SchemaSection): SchemaSection[] {
  const found: SchemaSection[] = [s];
  for (const [key, child] of Object.entries(s.schema.properties ?? {})) {
    const path = s.path === '' ? key : `${s.path}.${key}`;
    for (const nested of objectForms(path, child as JsonSchema, s.depth + 1)) found.push(...sections(nested));
  }
  return found;
}

/** The sections a field's value opens: an object, the value of a map (`<name>`), or an object list item (`[]`). */
function objectForms(path: string, schema: JsonSchema, depth: number): SchemaSection[] {
  if (schema.properties) return [{ path, schema, depth }];
  if (isSchema(schema.additionalProperties)) return objectForms(`${path}.<name>`, schema.additionalProperties, depth);
  if (isSchema(schema.items)) return objectForms(`${path}[]`, schema.items, depth);
  return (schema.anyOf ?? []).flatMap((variant) => objectForms(path, variant as JsonSchema, depth));
}

/** A section's heading, optional description and field table. `title` defaults to the section's path. */
export function renderSection(s: SchemaSection, title?: string, note?: string): string[] {
  const required = new Set(s.schema.required ?? []);
  const heading = title ?? (s.path === '' ? 'Top level' : `\`${s.path}\``);
  const lines = [`${s.depth <= 1 ? '##' : '###'} ${heading}`, ''];
  if (note !== undefined) lines.push(note, '');
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
  if (typeof d === 'object' && d !== null && !Array.isArray(d) && Object.keys(d).length > 0) return 'see fields';
  return `\`${JSON.stringify(d)}\``;
}

function isSchema(v: unknown): v is JsonSchema {
  return typeof v === 'object' && v !== null;
}

/** Table-cell safe: no raw pipes or line breaks. */
export function cell(s: string): string {
  return paragraph(s).replace(/\|/g, '\\|');
}

/** One line of Markdown; `<` and `>` outside code spans are escaped so `<name>` is not read as an HTML tag. */
export function paragraph(s: string | undefined): string {
  return (s ?? '')
    .replace(/\n/g, ' ')
    .split('`')
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/</g, '&lt;').replace(/>/g, '&gt;')))
    .join('`');
}
