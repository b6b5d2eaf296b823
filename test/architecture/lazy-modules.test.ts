// SPDX-License-Identifier: Apache-2.0
// Modules that cost the data path just by being loaded are reached only through a dynamic import(), so a sidecar
// that does not use their feature never loads them. ioredis: loading it alone made the proxy spend 1.6-2.3x the CPU
// per call at peak and hold +25 MiB RSS in a same-run bench (docs/decisions.md §14); it is loaded only when the
// bootstrap has `redis`.

import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from '../helpers/imports.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** `import x from 'y'` / `import { a } from 'y'` / `import 'y'`, not `import type`. */
const STATIC_IMPORT = /^\s*import\s+(?!type\s)(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;

/** Each module → the only file allowed to import it statically (itself loaded only by import()). */
const LAZY: ReadonlyMap<string, string> = new Map([['ioredis', 'src/redis/client.ts']]);

function staticImports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(STATIC_IMPORT)].map((m) => {
    const spec = m[1] as string;
    return spec.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts') : spec;
  });
}

describe('modules loaded only on demand', () => {
  const files = sourceFiles(ROOT, 'src');

  it.each([...LAZY])('%s is imported statically by %s alone, and that file only through import()', (module, owner) => {
    const offenders: string[] = [];
    for (const f of files) {
      const imports = staticImports(f);
      if (f !== owner && imports.includes(module)) offenders.push(`${f} imports ${module}`);
      if (imports.includes(owner)) offenders.push(`${f} imports ${owner} statically`);
    }
    expect(offenders).toEqual([]);
    expect(staticImports(owner)).toContain(module);
  });

  it('notices a static import (the check can fail)', () => {
    expect(staticImports('src/redis/client.ts')).toContain('ioredis');
    expect([..."import { createRedisClient } from '../redis/client.js';\n".matchAll(STATIC_IMPORT)]).toHaveLength(1);
    expect([..."import type { Redis } from 'ioredis';\n".matchAll(STATIC_IMPORT)]).toHaveLength(0);
  });
});
