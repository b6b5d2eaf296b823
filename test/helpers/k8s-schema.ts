// SPDX-License-Identifier: Apache-2.0
// Validates Kubernetes objects against the API schemas of the `kubernetes-models` package, strictly: its
// validators (compiled from the OpenAPI schemas) check types, required fields and enums but, like the API
// server's schemas, allow unknown properties, so a misspelled field would pass. The strict part compiles each
// object as an object literal typed with the model's interface (IDeployment, IPod, ...) with TypeScript, whose
// excess-property check rejects any field the schema does not name, at any depth.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';

export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly [key: string]: unknown;
}

/** Kinds no kubernetes-models module describes (CRDs): checked for apiVersion/kind/metadata.name only. */
export const CRD_KINDS = new Set(['cert-manager.io/v1 Certificate', 'cert-manager.io/v1 Issuer']);

const ROOT = resolve(import.meta.dirname, '../..');

function modulePath(o: K8sObject): string {
  return `kubernetes-models/${o.apiVersion}/${o.kind}`;
}

/**
 * Every problem of every object, as `<label>: <what>`; empty when all are valid. `label` names the object in the
 * messages (e.g. "Deployment/user-service").
 */
export async function validateObjects(objects: readonly { label: string; object: K8sObject }[]): Promise<string[]> {
  const problems: string[] = [];
  const typed: { label: string; object: K8sObject }[] = [];
  for (const { label, object } of objects) {
    if (typeof object.apiVersion !== 'string' || typeof object.kind !== 'string') {
      problems.push(`${label}: apiVersion and kind are required`);
      continue;
    }
    if (CRD_KINDS.has(`${object.apiVersion} ${object.kind}`)) {
      const name = (object['metadata'] as { name?: unknown } | undefined)?.name;
      if (typeof name !== 'string' || name === '') problems.push(`${label}: metadata.name is required`);
      continue;
    }
    const file = join(ROOT, 'node_modules', 'kubernetes-models', object.apiVersion, `${object.kind}.js`);
    if (!existsSync(file)) {
      problems.push(`${label}: no schema for ${object.apiVersion} ${object.kind} in kubernetes-models`);
      continue;
    }
    const mod = (await import(modulePath(object))) as Record<string, new (data: unknown) => { validate(): void }>;
    const Model = mod[object.kind];
    if (Model === undefined) throw new Error(`kubernetes-models has no class ${object.kind} in ${modulePath(object)}`);
    try {
      new Model(normalized(object)).validate();
    } catch (err) {
      const errors = (err as { errors?: { instancePath: string; message?: string; params?: unknown }[] }).errors;
      if (errors === undefined) throw err;
      for (const e of errors) problems.push(`${label}: ${e.instancePath || '/'}: ${e.message ?? ''} ${JSON.stringify(e.params)}`);
    }
    typed.push({ label, object });
  }
  problems.push(...unknownFields(typed));
  return problems;
}

/**
 * kustomize wraps a Secret's base64 data at 76 columns; the API server's base64 decoding (Go's encoding/base64)
 * skips line breaks, the schema's `byte` format does not. Joined here so the check matches the server.
 */
function normalized(o: K8sObject): K8sObject {
  if (o.apiVersion !== 'v1' || o.kind !== 'Secret' || typeof o['data'] !== 'object' || o['data'] === null) return o;
  const data = Object.fromEntries(Object.entries(o['data']).map(([k, v]) => [k, typeof v === 'string' ? v.replace(/[\r\n]/g, '') : v]));
  return { ...o, data };
}

/** The excess-property check: one virtual TypeScript module declaring each object with its model's interface. */
export function unknownFields(objects: readonly { label: string; object: K8sObject }[]): string[] {
  if (objects.length === 0) return [];
  const virtual = join(ROOT, 'test', '__k8s_strict_check__.ts');
  const lines: string[] = [];
  objects.forEach(({ object }, i) => {
    lines.push(`import type { I${object.kind} as T${i} } from '${modulePath(object)}';`);
  });
  // A diagnostic's offset tells which declaration (so which object) it is in.
  objects.forEach(({ object }, i) => lines.push(`export const o${i}: T${i} = ${JSON.stringify(object, null, 1)};`));
  const text = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) =>
    resolve(name) === virtual ? ts.createSourceFile(name, text, lang) : getSourceFile(name, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => resolve(name) === virtual || fileExists(name);
  const program = ts.createProgram([virtual], options, host);
  const source = program.getSourceFile(virtual);
  if (source === undefined) throw new Error('the strict-check module was not created');
  const starts = objects.map((_, i) => text.indexOf(`export const o${i}:`));
  return ts.getPreEmitDiagnostics(program, source).map((d) => {
    const at = d.start ?? 0;
    let index = 0;
    while (index + 1 < starts.length && (starts[index + 1] as number) <= at) index++;
    return `${objects[index]?.label ?? '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}
