// SPDX-License-Identifier: Apache-2.0
// Reads the import graph of src/ as text (static imports, re-exports, dynamic import()), for the dependency-rule test.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** One import: `from` and `to` are paths relative to the repository root (`src/x/y.ts`), or `node:x` / a package. */
export interface ImportEdge {
  readonly from: string;
  readonly to: string;
  /** `import type` / `export type`: no runtime dependency. */
  readonly typeOnly: boolean;
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every .ts file under `dir`, relative to `root`, sorted. */
export function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) out.push(relative(root, p).split(sep).join('/'));
    }
  };
  walk(join(root, dir));
  return out.sort();
}

/** The imports of each file in `files`, resolved: relative specifiers become repo paths (`.js` → `.ts`). */
export function importEdges(root: string, files: readonly string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const from of files) {
    const text = readFileSync(join(root, from), 'utf8');
    const add = (spec: string, typeOnly: boolean): void => {
      if (!spec.startsWith('.')) {
        edges.push({ from, to: spec, typeOnly });
        return;
      }
      const abs = resolve(root, dirname(from), spec).replace(/\.js$/, '.ts');
      edges.push({ from, to: relative(root, abs).split(sep).join('/'), typeOnly });
    };
    for (const m of text.matchAll(IMPORT)) {
      // `export { x }` / `export const` without `from` do not match; `import 'x'` (side effect) does.
      add(m[3] as string, m[2] !== undefined);
    }
    for (const m of text.matchAll(DYNAMIC)) add(m[1] as string, false);
  }
  return edges;
}

/** The area of a src path: its first folder under src/, or the file's own name for files directly in src/. */
export function areaOf(path: string): string {
  const parts = path.split('/');
  if (parts[0] !== 'src') return path;
  return parts.length === 2 ? (parts[1] as string).replace(/\.ts$/, '') : (parts[1] as string);
}

/** The strongly connected components with more than one member (Tarjan), each sorted: the import cycles. */
export function cycles(nodes: readonly string[], edges: ReadonlyMap<string, readonly string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) found.push(scc.sort());
    }
  };
  for (const n of nodes) if (!idx.has(n)) visit(n);
  return found;
}
