// SPDX-License-Identifier: Apache-2.0
// Child-process bookkeeping for the benchmark: every process the harness starts is tracked here and killed when
// the harness exits, whether it finishes, throws, or is interrupted.

import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';

/** A process started by the harness, with its output captured to `logPath`. */
export interface Tracked {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves with the exit code (or the signal name) when the process exits. Never rejects. */
  readonly exited: Promise<number | string>;
  /** True once `exited` has resolved. */
  hasExited(): boolean;
}

const live = new Set<Tracked>();

export interface SpawnOptions {
  /** File that receives stdout and stderr. */
  logPath: string;
  env?: NodeJS.ProcessEnv;
  /** Open an IPC channel (the child must be a Node.js script). */
  ipc?: boolean;
}

/** Starts `command` with stdout/stderr in `logPath`, and tracks it until it exits. Throws if it cannot start. */
export function spawnTracked(name: string, command: string, args: readonly string[], options: SpawnOptions): Tracked {
  const out = openSync(options.logPath, 'a');
  const child = spawn(command, args, {
    stdio: options.ipc ? ['ignore', out, out, 'ipc'] : ['ignore', out, out],
    env: options.env ?? process.env,
  });
  closeSync(out);
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  let exitedFlag = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedFlag = true;
      live.delete(tracked);
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', (err) => {
      exitedFlag = true;
      live.delete(tracked);
      resolve(err.message);
    });
  });
  const tracked: Tracked = {
    name,
    child,
    pid: child.pid,
    logPath: options.logPath,
    exited,
    hasExited: () => exitedFlag,
  };
  live.add(tracked);
  return tracked;
}

/** Sends SIGTERM, then SIGKILL if the process is still alive after `graceMs` (default 3000 ms). */
export async function stopTracked(tracked: Tracked, graceMs = 3000): Promise<void> {
  if (tracked.hasExited()) return;
  tracked.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
  const result = await Promise.race([tracked.exited, timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') {
    tracked.child.kill('SIGKILL');
    await tracked.exited;
  }
}

/** Stops every live tracked process, in parallel. */
export async function stopAll(graceMs = 3000): Promise<void> {
  await Promise.all([...live].map((t) => stopTracked(t, graceMs)));
}

/**
 * Makes sure no child outlives the harness: on normal exit, SIGKILL whatever is left (synchronously, the only
 * option in an 'exit' handler); on SIGINT/SIGTERM, stop everything gracefully and exit with 128+signal.
 */
export function installExitHandlers(): void {
  process.on('exit', () => {
    for (const t of live) t.child.kill('SIGKILL');
  });
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping benchmark processes`);
      void stopAll(1000).finally(() => process.exit(code));
    });
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The last `lines` lines of a log file, for error messages. Empty string when there is no file. */
export function logTail(logPath: string, lines = 20): string {
  if (!existsSync(logPath)) return '';
  return readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Resolves after `ms` milliseconds. Only for polling a process that has no readiness signal. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` until it resolves, the process exits, or `timeoutMs` passes (default 15000 ms).
 * Polling is the only readiness signal nginx and a CLI child offer. Rejects with the probe's last error.
 */
export async function waitUntilReady(
  tracked: Tracked,
  probe: () => Promise<void>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (let wait = 20; Date.now() < deadline; wait = Math.min(wait * 2, 500)) {
    if (tracked.hasExited()) {
      throw new Error(`${tracked.name} exited (${String(await tracked.exited)}) before it served a call`);
    }
    try {
      await probe();
      return;
    } catch (err) {
      lastError = err;
    }
    await delay(wait);
  }
  throw new Error(`${tracked.name} did not serve a correct call within ${timeoutMs} ms: ${String(lastError)}`);
}

/**
 * A watchdog for a whole bench invocation: after `limitSeconds` it says so, stops every tracked process and exits
 * 1, so a hung path never holds the machine. Unref'd; the returned timer is cleared on success.
 */
export function armWatchdog(limitSeconds: number, workDir: string): NodeJS.Timeout {
  const watchdog = setTimeout(() => {
    console.error(`bench: exceeded ${Math.round(limitSeconds)} s, aborting (work dir kept: ${workDir})`);
    void stopAll(1000).finally(() => process.exit(1));
  }, limitSeconds * 1000);
  watchdog.unref();
  return watchdog;
}
