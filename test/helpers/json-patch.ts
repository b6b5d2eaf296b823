// SPDX-License-Identifier: Apache-2.0
// A minimal RFC 6902 applier for the tests: the `add` operation (all the injector emits), RFC 6901 pointers.
// The API server applies the real patch; here it shows the patched pod is what the schema tests validate.

export interface AddOperation {
  readonly op: string;
  readonly path: string;
  readonly value?: unknown;
}

/** A deep copy of `doc` with `patch` applied; throws on anything but a well-formed `add`. */
export function applyPatch<T>(doc: T, patch: readonly AddOperation[]): T {
  const root = structuredClone(doc) as unknown;
  for (const op of patch) {
    if (op.op !== 'add') throw new Error(`unsupported op ${op.op}`);
    const parts = op.path.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop();
    if (last === undefined) throw new Error('cannot add at the root');
    let at = root as Record<string, unknown> | unknown[];
    for (const p of parts) {
      const next = Array.isArray(at) ? at[Number(p)] : at[p];
      if (typeof next !== 'object' || next === null) throw new Error(`${op.path}: ${p} does not exist`);
      at = next as Record<string, unknown> | unknown[];
    }
    const value = structuredClone(op.value);
    if (Array.isArray(at)) {
      const index = last === '-' ? at.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > at.length) throw new Error(`${op.path}: bad index`);
      at.splice(index, 0, value);
    } else at[last] = value;
  }
  return root as T;
}
