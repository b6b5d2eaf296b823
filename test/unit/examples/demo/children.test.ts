// SPDX-License-Identifier: Apache-2.0
// The demo's child processes: output to a log file, working directory, SIGTERM then wait, SIGKILL past the grace
// period, spawn errors.

import { mkdtempSync, realpathSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { describeExit, logTail, startChild } from '../../../../examples/demo/children.js';

const dir = mkdtempSync(join(tmpdir(), 'meshlet-children-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Node running `code`; it prints "up" once its handlers are installed. */
const nodeChild = (name: string, code: string) =>
  startChild({ name, command: process.execPath, args: ['-e', code], logFile: join(dir, `${name}.log`), env: { DEMO_TEST: 'x' } });

/** Resolves once the child's log contains `text` (watched with fs.watch, no polling). */
const untilLogged = (child: ReturnType<typeof nodeChild>, text: string) =>
  new Promise<void>((resolve) => {
    const watcher = watch(child.logFile, () => check());
    const check = () => {
      if (!logTail(child.logFile).includes(text)) return;
      watcher.close();
      resolve();
    };
    check();
  });

describe('startChild', () => {
  it('writes the child output (with the extra env) to its log file and reports a clean exit', async () => {
    const child = nodeChild('echo', "console.log('env=' + process.env.DEMO_TEST); console.error('to stderr')");
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(child.hasExited()).toBe(true);
    expect(logTail(child.logFile)).toBe('env=x\nto stderr');
  });

  it('runs the child in its cwd when one is given', async () => {
    const child = startChild({ name: 'cwd', command: process.execPath, args: ['-e', 'console.log(process.cwd())'], logFile: join(dir, 'cwd.log'), cwd: dir });
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(logTail(child.logFile)).toBe(realpathSync(dir));
  });

  it('stops a child with SIGTERM and waits for its exit', async () => {
    const child = nodeChild('graceful', "process.on('SIGTERM', () => { console.log('bye'); process.exit(0); }); console.log('up'); setInterval(() => {}, 1000);");
    await untilLogged(child, 'up');
    expect(await child.stop(10_000)).toEqual({ code: 0, signal: null });
    expect(logTail(child.logFile)).toBe('up\nbye');
  });

  it('kills a child that ignores SIGTERM once the grace period is over', async () => {
    const child = nodeChild('stubborn', "process.on('SIGTERM', () => console.log('ignored')); console.log('up'); setInterval(() => {}, 1000);");
    await untilLogged(child, 'up');
    expect(await child.stop(200)).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('reports a command that cannot be spawned', async () => {
    const child = startChild({ name: 'missing', command: join(dir, 'no-such-binary'), args: [], logFile: join(dir, 'missing.log') });
    const exit = await child.exited;
    expect(describeExit(exit)).toMatch(/^could not be started: spawn .*no-such-binary ENOENT$/);
    expect(await child.stop()).toBe(exit);
  });
});

describe('describeExit and logTail', () => {
  it('says how a child ended', () => {
    expect(describeExit({ code: 1, signal: null })).toBe('exited with code 1');
    expect(describeExit({ code: null, signal: 'SIGKILL' })).toBe('killed by SIGKILL');
  });

  it('returns the last lines of a log, or a placeholder when there is none', () => {
    const file = join(dir, 'tail.log');
    writeFileSync(file, Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n') + '\n');
    expect(logTail(file, 2)).toBe('line 28\nline 29');
    expect(logTail(join(dir, 'absent.log'))).toBe('(no log output)');
  });
});
