// SPDX-License-Identifier: Apache-2.0
// Finds the external tools the benchmark drives (h2load, nginx, openssl) and names the apt packages that provide
// them; also their version lines for the bench's banner.

import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** External tools, with the Debian/Ubuntu package that installs each. */
export const TOOL_PACKAGES = {
  h2load: 'nghttp2-client',
  nginx: 'nginx-light',
  openssl: 'openssl',
} as const;
export type ToolName = keyof typeof TOOL_PACKAGES;

/** nginx lives in /usr/sbin, which is often not on a non-root user's PATH. */
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** Absolute path of an executable named `name` on PATH (or in the sbin dirs), or undefined. */
export function findTool(name: ToolName): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The message printed when tools are missing: what is missing and the apt-get line that fixes it. */
export function missingToolsMessage(missing: readonly ToolName[]): string {
  const packages = missing.map((t) => TOOL_PACKAGES[t]);
  return [
    `bench: missing ${missing.map((t) => `${t} (apt package ${TOOL_PACKAGES[t]})`).join(', ')}.`,
    `Install with: sudo apt-get install -y ${packages.join(' ')}`,
    missing.includes('nginx') && !missing.includes('h2load')
      ? 'Or run without the nginx reference: npm run bench -- --only direct,node-floor,meshlet (no ratios against nginx then).'
      : '',
  ]
    .filter(Boolean)
    .join('\n');
}

/** The first line `bin args` prints (stdout, then stderr), for the banner; '?' when it prints nothing. */
export function toolVersion(bin: string, args: readonly string[]): string {
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] || '?';
}
