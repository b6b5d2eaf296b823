// SPDX-License-Identifier: Apache-2.0
// Finds the repository root (the directory holding package.json), so runtime assets such as .proto and YAML files
// resolve the same way from the TypeScript sources (vitest) and from the compiled dist/examples/... tree.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/**
 * The nearest ancestor of `fromUrl` (default: this module) that contains a package.json.
 * Works from `examples/...` and from `dist/examples/...` because dist/ has no package.json of its own.
 * @throws Error when no ancestor holds a package.json (the module was copied out of the repository).
 */
export function projectRoot(fromUrl: string = import.meta.url): string {
  if (fromUrl === import.meta.url && cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) break;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(fromUrl)}`);
    dir = parent;
  }
  if (fromUrl === import.meta.url) cached = dir;
  return dir;
}

/** An absolute path under the repository root, e.g. `fromRoot('examples', 'services', 'user-service', 'user.proto')`. */
export function fromRoot(...segments: string[]): string {
  return join(projectRoot(), ...segments);
}
