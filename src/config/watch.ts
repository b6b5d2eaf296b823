// SPDX-License-Identifier: Apache-2.0
// Hot reload of a config file (policy.yaml): watch the file's parent directory, debounce, read, validate
// everything, then hand the new config over in one call. An invalid file changes nothing: its issues are logged
// (file:line:column: path: message) and counted, and the last good config stays in force.

import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '../telemetry/logger.js';
import { formatIssue } from './errors.js';
import type { LoadResult } from './load.js';
import type { ReloadResult } from './reload-result.js';
import { fileSource, staticSource, type ConfigSource } from './source.js';

export interface ConfigWatcherOptions<T> {
  /** The file to follow; may be a symlink (a Kubernetes ConfigMap mount). */
  readonly path: string;
  /** Validates a candidate; the pipeline of the file's kind (e.g. policy/load.ts `loadPolicy`). */
  readonly load: (source: ConfigSource) => Promise<LoadResult<T>>;
  /** Installs a valid new config. Called at most once per change, never concurrently. */
  readonly apply: (config: T) => void;
  readonly log: Logger;
  /** Counts each outcome (metrics). */
  readonly onReload?: (result: ReloadResult) => void;
  /** Quiet time after the last file event before the file is read, ms; default 200; range 0-10000. */
  readonly debounceMs?: number;
  /**
   * Also re-read every this many ms, in case a file event was missed (network filesystems, a directory replaced
   * under the watch); unchanged text costs one read. Default 10000; 0 disables.
   */
  readonly pollIntervalMs?: number;
  /** The text the config in force was loaded from, so an unchanged file is not applied again. */
  readonly initialText?: string;
}

export interface ConfigWatcher {
  /** Reads and (if changed) validates and applies the file now; resolves with the outcome. */
  check(): Promise<ReloadResult>;
  close(): void;
}

/**
 * Why the parent directory and not the file: editors replace files (a new inode), and a ConfigMap update swaps
 * the `..data` symlink next to the file, so a watch on the file itself goes deaf after the first change. Every
 * event in the directory (re)arms the debounce timer; the file is then read and compared with the text in force,
 * so unrelated files in the directory cost one read and no reload.
 *
 * Reload state machine:
 * 1. idle → (directory event or poll tick) → debouncing: the timer restarts on each event.
 * 2. debouncing → (timer) → checking: read the file; same text as in force, or as the last rejected text →
 *    `unchanged`; otherwise validate: valid → `apply`, `applied`; invalid or unreadable → warn with every issue,
 *    `rejected`, nothing else changes.
 * 3. An event during checking schedules one more check after it (changes are never lost, checks never overlap).
 */
export function watchConfigFile<T>(opts: ConfigWatcherOptions<T>): ConfigWatcher {
  const debounceMs = opts.debounceMs ?? 200;
  const pollMs = opts.pollIntervalMs ?? 10_000;
  const log = opts.log;
  let appliedText = opts.initialText;
  let rejectedText: string | undefined;
  let running: Promise<ReloadResult> | undefined;
  let again = false;
  let closed = false;

  const check = async (): Promise<ReloadResult> => {
    let text: string;
    try {
      text = await fileSource(opts.path).read();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (rejectedText === `\0unreadable ${message}`) return 'unchanged';
      rejectedText = `\0unreadable ${message}`;
      log.warn({ file: opts.path, err: message }, 'config file unreadable; keeping the last good config');
      opts.onReload?.('rejected');
      return 'rejected';
    }
    if (text === appliedText || text === rejectedText) return 'unchanged';
    const result = await opts.load(staticSource(opts.path, text));
    if (closed) return 'unchanged';
    if (!result.ok) {
      rejectedText = text;
      const issues = result.errors.map(formatIssue);
      log.warn({ file: opts.path, issues }, `config change rejected; keeping the last good config: ${issues.join('; ')}`);
      opts.onReload?.('rejected');
      return 'rejected';
    }
    appliedText = text;
    rejectedText = undefined;
    opts.apply(result.config);
    log.info({ file: opts.path }, 'config reloaded');
    opts.onReload?.('applied');
    return 'applied';
  };

  const run = (): Promise<ReloadResult> => {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = check()
      .catch((err: unknown): ReloadResult => {
        log.error({ err, file: opts.path }, 'config reload failed');
        opts.onReload?.('rejected');
        return 'rejected';
      })
      .finally(() => {
        running = undefined;
        if (again && !closed) {
          again = false;
          void run();
        }
      });
    return running;
  };

  const dirWatch = watchDirectories({
    dirs: [dirname(opts.path)],
    debounceMs,
    pollIntervalMs: pollMs,
    onSettled: () => void run(),
    log,
  });
  log.debug({ file: basename(opts.path), dir: dirname(opts.path) }, 'watching config file');

  return {
    check: run,
    close() {
      closed = true;
      dirWatch.close();
    },
  };
}

/** Options of {@link watchDirectories}. */
export interface DirectoryWatchOptions {
  /** Directories to watch (duplicates are watched once). A directory that cannot be watched is polled only. */
  readonly dirs: readonly string[];
  /** Quiet time after the last event before `onSettled`, ms; range 0-10000. */
  readonly debounceMs: number;
  /** Also call `onSettled` (debounced) every this many ms, for missed events; 0 disables. */
  readonly pollIntervalMs: number;
  /** Called once per burst of events, after `debounceMs` of quiet; never after `close()`. */
  readonly onSettled: () => void;
  readonly log: Logger;
}

/**
 * The debounced watch on parent directories that survives file replacement and Kubernetes' `..data` symlink swap
 * (see {@link watchConfigFile}); shared by config reload and the `files` certificate source (src/tls/sources/).
 * The watchers and the poll timer never keep the process alive. `close()` is idempotent.
 */
export function watchDirectories(opts: DirectoryWatchOptions): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const schedule = (): void => {
    if (closed) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (!closed) opts.onSettled();
    }, opts.debounceMs);
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set(opts.dirs)) {
    try {
      const watcher = watch(dir, { persistent: false }, schedule);
      watcher.on('error', (err) => opts.log.warn({ dir, err: err.message }, 'directory watch failed; polling only'));
      watchers.push(watcher);
    } catch (err) {
      opts.log.warn({ dir, err: err instanceof Error ? err.message : String(err) }, 'cannot watch the directory; polling only');
    }
  }
  const poll = opts.pollIntervalMs > 0 ? setInterval(schedule, opts.pollIntervalMs) : undefined;
  poll?.unref();
  return {
    close() {
      closed = true;
      for (const w of watchers) w.close();
      if (timer !== undefined) clearTimeout(timer);
      if (poll !== undefined) clearInterval(poll);
    },
  };
}
