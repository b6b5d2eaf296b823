// SPDX-License-Identifier: Apache-2.0
// The JSON Schema export: input-side, refinements restated, unrepresentable parts tolerated.

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bootstrapJsonSchema, toJsonSchema } from '../../../src/config/json-schema.js';

type Json = Record<string, unknown>;
const at = (schema: Json, ...keys: string[]): Json =>
  keys.reduce<Json>((s, k) => (s[k] ?? {}) as Json, schema);

describe('bootstrapJsonSchema', () => {
  const schema = bootstrapJsonSchema() as Json;

  it('describes what users write: fields with defaults are optional and carry the default', () => {
    expect(schema['required']).toEqual(['service']);
    expect(at(schema, 'properties', 'admin', 'properties', 'listen', 'default')).toBe('127.0.0.1:6191');
    expect(at(schema, 'properties', 'inbound', 'required')).toEqual(['app']);
    expect(schema['additionalProperties']).toBe(false);
  });

  it('restates the cross-field rules zod checks in refinements', () => {
    expect(schema['anyOf']).toEqual([{ required: ['inbound'] }, { required: ['outbound'] }]);
    const balancing = at(schema, 'properties', 'upstreams', 'additionalProperties', 'properties', 'balancing');
    expect(balancing['if']).toEqual({ properties: { policy: { const: 'ring_hash' } }, required: ['policy'] });
    expect(balancing['then']).toEqual({ required: ['hashHeader'] });
  });

  it('documents every field', () => {
    const missing: string[] = [];
    const walk = (s: Json, path: string): void => {
      for (const [key, child] of Object.entries((s['properties'] ?? {}) as Record<string, Json>)) {
        if (typeof child['description'] !== 'string') missing.push(`${path}${key}`);
        walk(child, `${path}${key}.`);
      }
      const value = s['additionalProperties'];
      if (typeof value === 'object' && value !== null) walk(value as Json, `${path}<name>.`);
    };
    walk(schema, '');
    expect(missing).toEqual([]);
  });
});

describe('toJsonSchema', () => {
  it('turns parts JSON Schema cannot express into an open schema instead of throwing', () => {
    const odd = z.object({ when: z.date(), n: z.string().transform((s) => s.length) }).strict();
    const json = toJsonSchema(odd) as Json;
    expect(at(json, 'properties', 'when', 'description')).toContain('meshlet validate');
    expect(at(json, 'properties', 'n', 'type')).toBe('string');
  });
});
