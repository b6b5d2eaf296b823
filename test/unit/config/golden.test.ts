// SPDX-License-Identifier: Apache-2.0
// Generated files stay in sync with the schema: config/schema/sidecar.schema.json and docs/configuration.md.
// Stale? Regenerate with `UPDATE_GOLDEN=1 npx vitest run test/unit/config` and commit the result.

import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BOOTSTRAP_JSON_SCHEMA_PATH, bootstrapJsonSchemaText } from '../../../src/config/json-schema.js';
import { CONFIGURATION_DOC_PATH, configurationReference } from '../../../src/config/reference-doc.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const REGENERATE = 'UPDATE_GOLDEN=1 npx vitest run test/unit/config';

const golden = [
  { file: BOOTSTRAP_JSON_SCHEMA_PATH, generate: bootstrapJsonSchemaText },
  { file: CONFIGURATION_DOC_PATH, generate: configurationReference },
];

describe('generated config files', () => {
  for (const { file, generate } of golden) {
    it(`${file} matches what the schema generates`, async () => {
      const expected = generate();
      if (process.env['UPDATE_GOLDEN'] === '1') await writeFile(ROOT + file, expected);
      const committed = await readFile(ROOT + file, 'utf8').catch(() => '');
      expect(committed, `${file} is stale; regenerate it with: ${REGENERATE}`).toBe(expected);
    });
  }

  it('the reference documents every field of the JSON Schema', () => {
    const doc = configurationReference();
    const fields: string[] = [];
    const walk = (schema: Record<string, unknown>): void => {
      const props = (schema['properties'] ?? {}) as Record<string, Record<string, unknown>>;
      for (const [key, child] of Object.entries(props)) {
        fields.push(key);
        walk(child);
      }
      for (const nested of [schema['additionalProperties'], schema['items'], ...((schema['anyOf'] as unknown[]) ?? [])]) {
        if (typeof nested === 'object' && nested !== null) walk(nested as Record<string, unknown>);
      }
    };
    walk(JSON.parse(bootstrapJsonSchemaText()) as Record<string, unknown>);
    expect(fields.length).toBeGreaterThan(30);
    for (const key of fields) expect(doc).toContain(`| \`${key}\` |`);
  });
});
