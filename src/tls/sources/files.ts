// SPDX-License-Identifier: Apache-2.0
// The `files` certificate source: a leaf chain, its key and a trust bundle from PEM files (e.g. a mounted
// Kubernetes Secret), validated as a set and re-read when their directories change. A bad set never replaces the
// good one: it is logged with the file and the reason, and the last good generation stays in force.

import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { watchDirectories } from '../../config/watch.js';
import type { ReloadResult } from '../../config/reload-result.js';
import type { Logger } from '../../telemetry/logger.js';
import { checkMaterial, type CheckedMaterial } from '../check.js';
import type { CertSource, TlsMaterial } from '../material.js';
import { TlsFileError } from '../pem.js';
import { createMaterialHolder } from './holder.js';

/** Options of {@link createFilesSource}. */
export interface FilesSourceOptions {
  /** PEM: the leaf first, then intermediates. */
  readonly certFile: string;
  /** PEM private key of the leaf. */
  readonly keyFile: string;
  /** PEM roots. */
  readonly trustBundleFile: string;
  /** Quiet time after the last change in a watched directory before the set is re-read, ms. Default 200; 0-10000. */
  readonly reloadDebounceMs?: number;
  /**
   * Also re-read every this many ms, for missed events (a directory replaced under the watch, network
   * filesystems). Unchanged files cost three reads. Default 60_000; 0 disables.
   */
  readonly pollIntervalMs?: number;
  readonly log: Logger;
  /**
   * The SPIFFE ID the leaf must carry (an explicit `mtls.identity`). A set whose leaf names another ID is rejected
   * like any bad set: at start, start() fails; later, the current generation stays. Unset: any valid ID is taken.
   */
  readonly expectedIdentity?: string;
  /** Wall clock for validity checks, ms. Default Date.now. */
  readonly now?: () => number;
  /** Called with each reload's outcome (metrics). */
  readonly onReload?: (result: ReloadResult) => void;
}

/** The files source, with a manual re-read for tests and SIGHUP-style triggers. */
export interface FilesCertSource extends CertSource {
  /** Re-reads and validates the files now; never runs two reads at once (a call during one runs one more after). */
  reload(): Promise<ReloadResult>;
}

/**
 * Creates the source; nothing is read before `start()`. Reload state machine:
 * 1. start: read and validate all three files; invalid → `start` rejects with the file and reason; valid →
 *    generation 1, and the files' directories are watched (watchDirectories: parent dirs, so a Secret's `..data`
 *    symlink swap is seen).
 * 2. A settled change (or poll tick) → reload: read the three files; same text as in force → `unchanged`;
 *    invalid (unreadable, mismatched key, expired, ...) → warn naming the file and the reason, `rejected`, the old
 *    generation stays; valid → generation + 1, `applied`, listeners called.
 * 3. A half-written update (new cert, old key) is rejected and picked up complete on the next event.
 */
export function createFilesSource(options: FilesSourceOptions): FilesCertSource {
  const log = options.log.child({ component: 'tls', source: 'files' });
  const now = options.now ?? Date.now;
  const holder = createMaterialHolder(log);
  const origin = { chain: options.certFile, key: options.keyFile, bundle: options.trustBundleFile };
  let watch: { close(): void } | undefined;
  let running: Promise<ReloadResult> | undefined;
  let again = false;
  let closed = false;
  let lastRejected: string | undefined;

  const read = async (): Promise<CheckedMaterial> => {
    const [certChainPem, keyPem, trustBundlePem] = await Promise.all(
      [options.certFile, options.keyFile, options.trustBundleFile].map(async (file) => {
        try {
          return await readFile(file, 'utf8');
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new TlsFileError(file, code === 'ENOENT' ? 'missing' : `unreadable (${code ?? (err as Error).message})`);
        }
      }),
    );
    const checked = checkMaterial({ certChainPem: certChainPem!, keyPem: keyPem!, trustBundlePem: trustBundlePem! }, origin, now());
    const expected = options.expectedIdentity;
    if (expected !== undefined && checked.identity !== expected) {
      throw new TlsFileError(options.certFile, `leaf certificate is for ${checked.identity}, but mtls.identity is ${expected}`);
    }
    return checked;
  };

  const check = async (): Promise<ReloadResult> => {
    let next: CheckedMaterial;
    try {
      next = await read();
    } catch (err) {
      if (closed) return 'unchanged';
      const message = err instanceof Error ? err.message : String(err);
      // The same bad state seen again (poll ticks, unrelated files in the directory) is reported once.
      if (message === lastRejected) return 'unchanged';
      lastRejected = message;
      log.warn({ err: message, generation: holder.current()?.generation }, 'certificate files rejected; keeping the current certificates');
      options.onReload?.('rejected');
      return 'rejected';
    }
    if (closed) return 'unchanged';
    lastRejected = undefined;
    const published = holder.publish(next);
    if (published === undefined) return 'unchanged';
    log.info(
      { generation: published.generation, identity: published.identity, notAfter: published.notAfter.toISOString() },
      'certificates reloaded',
    );
    options.onReload?.('applied');
    return 'applied';
  };

  const reload = (): Promise<ReloadResult> => {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = check().finally(() => {
      running = undefined;
      if (again && !closed) {
        again = false;
        void reload();
      }
    });
    return running;
  };

  return {
    kind: 'files',
    async start(): Promise<TlsMaterial> {
      const existing = holder.current();
      if (existing !== undefined) return existing;
      const first = holder.publish(await read()) as TlsMaterial;
      log.info({ generation: first.generation, identity: first.identity, notAfter: first.notAfter.toISOString() }, 'certificates loaded');
      if (!closed) {
        watch = watchDirectories({
          dirs: [dirname(options.certFile), dirname(options.keyFile), dirname(options.trustBundleFile)],
          debounceMs: options.reloadDebounceMs ?? 200,
          pollIntervalMs: options.pollIntervalMs ?? 60_000,
          onSettled: () => void reload(),
          log,
        });
      }
      return first;
    },
    current: holder.current,
    onChange: holder.onChange,
    reload,
    close() {
      closed = true;
      watch?.close();
      watch = undefined;
      holder.clear();
    },
  };
}
