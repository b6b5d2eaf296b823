// SPDX-License-Identifier: Apache-2.0
// A real redis-server (the Debian package) for one test file: a free loopback port, a temp dir, no persistence;
// stopped by PID after the file. Redis refuses `--port 0`, so the port is found by binding 127.0.0.1:0 and closing,
// and the start is retried on another port if something took it in between. Also kills, restarts (same port),
// pauses (SIGSTOP) and resumes (SIGCONT) the server for failure tests.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { deadPort } from './scoped.js';

export interface RedisServer {
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  readonly port: number;
  /** PID of the running server; undefined while it is stopped. */
  pid(): number | undefined;
  /** SIGKILL, waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: no persistence). */
  restart(): Promise<void>;
  /** SIGSTOP: the server keeps its connections but answers nothing. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Runs one command through redis-cli (for assertions). */
  cli(...args: string[]): string;
}

/** Starts redis-server on `port`; resolves once it accepts connections, rejects with its output if it exits. */
function launch(port: number, dir: string, extraArgs: readonly string[]): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      out += b.toString();
      if (out.includes('Ready to accept connections')) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (b: Buffer) => void (out += b.toString()));
    child.once('error', (err) => reject(new Error(`redis-server could not start (is the redis-server package installed?): ${err.message}`)));
    child.once('exit', (code) => reject(Object.assign(new Error(`redis-server exited with ${code}: ${out.slice(-500)}`), { inUse: out.includes('Address already in use') })));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Options of {@link startRedis}. */
export interface RedisOptions {
  /** Extra redis-server arguments (config directives), e.g. ACL users: `--user`, `name`, `on`, `>pw`, ... */
  readonly args?: readonly string[];
  /** Extra redis-cli arguments for `cli()`, e.g. `--user`, `name`, `--pass`, `pw`. */
  readonly cliArgs?: readonly string[];
}

/** Starts a server for the calling test file; it is stopped (by PID) and its dir removed in afterAll. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const extra = options.args ?? [];
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-redis-'));
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; child === undefined; attempt++) {
    port = await deadPort();
    try {
      child = await launch(port, dir, extra);
    } catch (err) {
      if (!(err as { inUse?: boolean }).inUse || attempt >= 5) throw err;
    }
  }
  afterAll(async () => {
    if (child !== undefined && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGCONT');
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited(child);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const server: RedisServer = {
    address: `127.0.0.1:${port}`,
    port,
    pid: () => (child !== undefined && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    async kill() {
      if (child === undefined || child.pid === undefined) return;
      process.kill(child.pid, 'SIGKILL');
      await exited(child);
    },
    async restart() {
      // The port was ours a moment ago; a TIME_WAIT or a racing bind can delay it: retry briefly.
      for (let attempt = 0; ; attempt++) {
        try {
          child = await launch(port, dir, extra);
          return;
        } catch (err) {
          if (!(err as { inUse?: boolean }).inUse || attempt >= 20) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
    pause() {
      if (child?.pid !== undefined) process.kill(child.pid, 'SIGSTOP');
    },
    resume() {
      if (child?.pid !== undefined) process.kill(child.pid, 'SIGCONT');
    },
    cli(...args) {
      const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--no-auth-warning', ...(options.cliArgs ?? []), ...args], { encoding: 'utf8' });
      return r.stdout.trim();
    },
  };
  return server;
}
