// SPDX-License-Identifier: Apache-2.0
// The demo's child processes (two services, two sidecars): spawn with output to a log file, notice an early exit,
// stop with SIGTERM and wait for the exit, SIGKILL only past a bound.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** How one child is started. */
export interface ChildSpec {
  /** Short label for messages, e.g. `user-service` or `user-service sidecar`. */
  name: string;
  /** The executable (e.g. process.execPath). */
  command: string;
  args: readonly string[];
  /** Added to the demo's own environment (which the child inherits, CONSUL_HTTP_ADDR included). */
  env?: Readonly<Record<string, string>>;
  /** stdout and stderr are appended here. */
  logFile: string;
  /** Working directory. Default: the demo's own. */
  cwd?: string;
}

/** How a child ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be spawned (e.g. ENOENT). */
  error?: Error;
}

/** A started child. */
export interface Child {
  readonly name: string;
  readonly logFile: string;
  readonly process: ChildProcess;
  /** Settles once when the process has exited (or failed to spawn: code null, signal null). */
  readonly exited: Promise<ChildExit>;
  /** True once `exited` has settled. */
  hasExited(): boolean;
  /**
   * SIGTERM, then waits for the exit; SIGKILL if it has not exited after `graceMs`. Resolves with how it ended.
   * @param graceMs default 10000 ms.
   */
  stop(graceMs?: number): Promise<ChildExit>;
}

/**
 * Starts a child in its own process group (`detached`), so a terminal Ctrl-C reaches only the demo, which then
 * stops the children in order; the demo remains their only controller.
 */
export function startChild(spec: ChildSpec): Child {
  const fd = openSync(spec.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(spec.command, [...spec.args], {
      env: { ...process.env, ...spec.env },
      ...(spec.cwd !== undefined && { cwd: spec.cwd }),
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  let done = false;
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => resolve({ code: null, signal: null, error })); // ENOENT etc.: never started
  }).finally(() => {
    done = true;
  });
  // A crashed demo must not leave children behind: 'exit' handlers run on process.exit and uncaught errors.
  const killOnExit = (): void => {
    if (!done) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));

  return {
    name: spec.name,
    logFile: spec.logFile,
    process: child,
    exited,
    hasExited: () => done,
    async stop(graceMs = 10_000) {
      if (done) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** The last `lines` lines of a child's log, for the error message when it died. */
export function logTail(logFile: string, lines = 20): string {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log output)';
  }
}

/** `exited with code 1` / `killed by SIGKILL` / `could not be started: spawn x ENOENT`. */
export function describeExit({ code, signal, error }: ChildExit): string {
  if (signal !== null) return `killed by ${signal}`;
  if (code !== null) return `exited with code ${code}`;
  return `could not be started${error ? `: ${error.message}` : ''}`;
}
