// SPDX-License-Identifier: Apache-2.0
// The bootstrap schema as JSON Schema (draft 2020-12) for editors and CI, committed as
// config/schema/sidecar.schema.json and kept fresh by a golden test.

import { z } from 'zod';
import { balancingSchema, bootstrapSchema } from './schema.js';

/** A JSON Schema document. */
export type JsonSchema = z.core.JSONSchema.BaseSchema;

/** Where the generated bootstrap schema is committed, relative to the repository root. */
export const BOOTSTRAP_JSON_SCHEMA_PATH = 'config/schema/sidecar.schema.json';

/**
 * What users may write (`io: 'input'`: fields with defaults are optional). zod refinements have no JSON Schema
 * form and would silently vanish, so the two cross-field rules are restated here; port ranges stay checked by
 * `meshlet validate` only. Anything else unrepresentable becomes `{}` (accept anything) instead of throwing.
 */
export function bootstrapJsonSchema(): JsonSchema {
  const json = toJsonSchema(bootstrapSchema, (schema, out) => {
    if (schema === bootstrapSchema) out.anyOf = [{ required: ['inbound'] }, { required: ['outbound'] }];
    if (schema === balancingSchema) {
      out.if = { properties: { policy: { const: 'ring_hash' } }, required: ['policy'] };
      out.then = { required: ['hashHeader'] };
    }
  });
  return { $schema: json.$schema, title: 'meshlet bootstrap (sidecar.yaml)', ...json };
}

/** The committed file's exact text: two-space JSON and a final newline. */
export function bootstrapJsonSchemaText(): string {
  return `${JSON.stringify(bootstrapJsonSchema(), null, 2)}\n`;
}

/** Any config schema as input-side JSON Schema; `restate` may add what refinements enforce. Never throws. */
export function toJsonSchema(
  schema: z.ZodType,
  restate: (schema: z.core.$ZodType, json: JsonSchema) => void = () => {},
): JsonSchema {
  return z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: () => ({ description: 'Not expressible in JSON Schema; run `meshlet validate` to check it.' }),
    override: (ctx) => restate(ctx.zodSchema, ctx.jsonSchema),
  });
}
