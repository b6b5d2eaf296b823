// SPDX-License-Identifier: Apache-2.0
// Generated policy files stay in sync with src/policy/schema.ts: config/schema/policy.schema.json and
// docs/policy.md. Stale? Regenerate with `UPDATE_GOLDEN=1 npx vitest run test/unit/policy` and commit the result.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  POLICY_DOC_PATH,
  POLICY_JSON_SCHEMA_PATH,
  policyJsonSchema,
  policyJsonSchemaText,
  policyReference,
} from '../../../src/policy/reference-doc.js';
import { POLICY_DEFAULTS } from '../../../src/policy/schema.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const REGENERATE = 'UPDATE_GOLDEN=1 npx vitest run test/unit/policy';
type Json = Record<string, unknown>;

describe('generated policy files', () => {
  for (const { file, generate } of [
    { file: POLICY_JSON_SCHEMA_PATH, generate: policyJsonSchemaText },
    { file: POLICY_DOC_PATH, generate: policyReference },
  ]) {
    it(`${file} matches what the schema generates`, async () => {
      const expected = generate();
      if (process.env['UPDATE_GOLDEN'] === '1') await writeFile(ROOT + file, expected);
      const committed = await readFile(ROOT + file, 'utf8').catch(() => '');
      expect(committed, `${file} is stale; regenerate it with: ${REGENERATE}`).toBe(expected);
    });
  }

  it('documents every field, with a default for every leaf equal to the built-in value', () => {
    const missing: string[] = [];
    const defaults: Record<string, unknown> = {};
    const walk = (s: Json, path: string): void => {
      for (const [key, child] of Object.entries((s['properties'] ?? {}) as Record<string, Json>)) {
        if (typeof child['description'] !== 'string') missing.push(`${path}${key}`);
        if (child['properties'] === undefined && child['default'] !== undefined && path.startsWith('defaults.')) {
          defaults[`${path.slice('defaults.'.length)}${key}`] = child['default'];
        }
        walk(child, `${path}${key}.`);
      }
    };
    walk(policyJsonSchema() as Json, '');
    expect(missing).toEqual([]);
    const flat: Record<string, unknown> = {};
    const flatten = (o: Json, p: string): void => {
      for (const [k, v] of Object.entries(o)) {
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) flatten(v as Json, `${p}${k}.`);
        else flat[`${p}${k}`] = v;
      }
    };
    flatten(POLICY_DEFAULTS as unknown as Json, '');
    expect(defaults).toEqual(flat);
  });

  it('the reference lists every field of the schema', () => {
    const doc = policyReference();
    for (const key of ['timeoutMs', 'retryOn', 'perTryTimeoutMs', 'baseMs', 'retryPercent', 'maxPendingRequests', 'failureRatePercent', 'maxEjectedPercent', 'match', 'method']) {
      expect(doc).toContain(`| \`${key}\` |`);
    }
  });
});
