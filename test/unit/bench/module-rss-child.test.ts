// SPDX-License-Identifier: Apache-2.0
// bench/module-rss-child.ts and bench/settled-rss.ts in real node children: a reading after the memory-reducing
// collection comes back over IPC and the child then exits by itself (on Node 20, disconnecting the inspector session
// inside its callback left the main thread stuck, so the reading never came), both as a script and as a preload.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';

const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function start(args: readonly string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  children.push(child);
  return child;
}

interface Reading {
  rssKiB: number;
  pauseMs: number;
}

describe('module-rss-child', () => {
  it('imports what it is given, reports its settled RSS, and exits', async () => {
    const child = start(['bench/module-rss-child.ts', 'node:net', 'node:tls']);
    const exited = once(child, 'exit');
    const [message] = (await once(child, 'message')) as [Reading];
    expect(message.rssKiB).toBeGreaterThan(10 * 1024);
    expect(message.pauseMs).toBeGreaterThan(0);
    expect(await exited).toEqual([0, null]);
  });

  it('reports the error when a module cannot be imported, instead of a reading', async () => {
    const child = start(['bench/module-rss-child.ts', 'no-such-package-meshlet']);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).not.toBe(0);
    expect(stderr).toContain('no-such-package-meshlet');
  });

  it('as a preload, reads the running process when told to, and leaves it running', async () => {
    const child = start(['--import', './bench/module-rss-child.ts', '-e', 'setInterval(() => {}, 1000)']);
    child.send('measure');
    const [message] = (await once(child, 'message')) as [Reading];
    expect(message.rssKiB).toBeGreaterThan(10 * 1024);
    expect(child.exitCode).toBeNull();
    child.kill('SIGTERM');
    await once(child, 'exit');
  });
});
