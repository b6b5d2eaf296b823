// SPDX-License-Identifier: Apache-2.0
// Test helpers for certificate sources: a logger that captures JSON lines, and leaf files issued by meshlet's own
// CA into a temp directory, written the way a Kubernetes Secret update lands (new file, then rename).

import { rename, writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { issueLeaf, type IssuedLeaf, type IssueLeafOptions, type LoadedCa } from '../../src/tls/ca.js';
import { createLogger, type Logger } from '../../src/telemetry/logger.js';

/** A logger whose lines land in `lines` (parsed), synchronously. */
export function captureLogger(): { log: Logger; lines: Array<Record<string, unknown>>; text: () => string } {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) {
        if (l.trim() === '') continue;
        raw.push(l);
        lines.push(JSON.parse(l) as Record<string, unknown>);
      }
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', destination, sync: true }), lines, text: () => raw.join('\n') };
}

/** Writes `text` to `file` atomically (temp file, then rename), as kubelet's symlink swap appears to a reader. */
export async function replaceFile(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, file);
}

/** The three paths of a files source in `dir`. */
export function materialPaths(dir: string): { certFile: string; keyFile: string; trustBundleFile: string } {
  return { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), trustBundleFile: join(dir, 'ca.crt') };
}

/** Issues a leaf from `ca` and writes tls.crt, tls.key and ca.crt into `dir` (key first, then the chain). */
export async function writeMaterial(ca: LoadedCa, dir: string, options: IssueLeafOptions): Promise<IssuedLeaf> {
  const leaf = await issueLeaf(ca, options);
  const p = materialPaths(dir);
  await replaceFile(p.trustBundleFile, leaf.trustBundlePem);
  await replaceFile(p.keyFile, leaf.keyPem);
  await replaceFile(p.certFile, leaf.chainPem);
  return leaf;
}
