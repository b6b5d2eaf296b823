// SPDX-License-Identifier: Apache-2.0
// The policy schema as JSON Schema (config/schema/policy.schema.json) and as the reference docs/policy.md, both
// generated from schema.ts and kept committed by a golden test (test/unit/policy/golden.test.ts), so neither can
// drift from what the loader accepts.

import { toJsonSchema, type JsonSchema } from '../config/json-schema.js';
import { paragraph, renderSection, schemaSections, type SchemaSection } from '../config/schema-doc.js';
import { AUTHZ_GUIDE } from '../authz/guide.js';
import { RATE_LIMIT_GUIDE } from '../ratelimit/guide.js';
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
    '',
    ...AUTHZ_GUIDE,
    '',
    ...RATE_LIMIT_GUIDE,
  ];
  // A section that appears in several places (`retry` under defaults, backends and routes) is written once.
  const unique = new Map<string, { section: SchemaSection; paths: string[] }>();
  for (const s of schemaSections(root)) {
    const key = JSON.stringify(s.schema);
    const seen = unique.get(key);
    if (seen === undefined || s.path === '') unique.set(key, { section: s, paths: [s.path] });
    else seen.paths.push(s.path);
  }
  for (const { section, paths } of unique.values()) {
    // A section used in several places is titled by its last key and says where it applies.
    const leaf = section.path.split('.').at(-1) ?? '';
    const shared = paths.length > 1;
    out.push('', ...renderSection(section, shared ? `\`${leaf}\`` : undefined, shared ? `In ${paths.map((p) => `\`${p}\``).join(', ')}.` : undefined));
  }
  return `${out.join('\n')}\n`;
}
