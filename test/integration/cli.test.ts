// SPDX-License-Identifier: Apache-2.0
// The meshlet CLI as a user runs it: help, version, validate, quick proxy mode (foreground, logs where it listens,
// prints its admin URL, clean exit on SIGTERM, a taken admin port), and run refusing an invalid config before
// starting anything.

import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMeshlet, spawnMeshlet, waitForLog } from '../helpers/cli.js';
import { echoClient, startEcho, unary, type EchoServer } from '../helpers/echo.js';

let echo: EchoServer;
const dir = mkdtempSync(join(tmpdir(), 'meshlet-cli-'));

beforeAll(async () => {
  echo = await startEcho();
});
afterAll(async () => {
  await echo.close();
});

describe('meshlet CLI', () => {
  it('--help lists the commands and --version prints the package version', async () => {
    const help = await runMeshlet(['--help']);
    expect(help.code).toBe(0);
    for (const cmd of ['run', 'proxy', 'validate']) expect(help.stdout).toContain(`meshlet ${cmd}`);
    const version = await runMeshlet(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^meshlet \d+\.\d+\.\d+/);
  });

  it('an unknown command exits 2 with the usage', async () => {
    const r = await runMeshlet(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
  });

  it('validate reports every error with file:line:column and exits 1', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'service:\n  name: x\ninbound:\n  listen: nowhere\n  app: 127.0.0.1:1\nlog:\n  level: loud\n');
    const r = await runMeshlet(['validate', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${bad}:4:\\d+: inbound.listen`));
    expect(r.stderr).toMatch(new RegExp(`${bad}:7:\\d+: log.level`));
  });

  it('validate applies env overrides as run does: a bad MESHLET_ADMIN_LISTEN fails both, naming the variable (issue 11)', async () => {
    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'service: { name: x }\noutbound: { listen: 127.0.0.1:0 }\n');
    const env = { MESHLET_ADMIN_LISTEN: 'bogus' };
    const validate = await runMeshlet(['validate', good], env);
    expect(validate.code).toBe(1);
    expect(validate.stdout).toBe('');
    expect(validate.stderr).toContain('MESHLET_ADMIN_LISTEN: admin.listen: expected host:port');
    const run = await runMeshlet(['run', '--config', good], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('MESHLET_ADMIN_LISTEN: admin.listen: expected host:port');
    expect(run.stderr).toContain('nothing started');
  });

  it('run refuses an invalid config and starts nothing', async () => {
    const bad = join(dir, 'bad-run.yaml');
    writeFileSync(bad, 'service: {}\n');
    const r = await runMeshlet(['run', '--config', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('service.name');
    expect(r.stderr).toContain('nothing started');
  });

  it('proxy quick mode serves in the foreground, logs where it listens, and exits 0 on SIGTERM', async () => {
    const child = spawnMeshlet(['proxy', '--listen', '127.0.0.1:0', '--upstream', echo.address, '--admin', '127.0.0.1:0']);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const adminLine = waitForStderr(child, /^meshlet: admin (http:\/\/127\.0\.0\.1:(\d+)) /m);
    const line = await waitForLog(child, (l) => l.msg === 'meshlet listening');
    const inbound = String(line.inbound);
    expect(inbound).toMatch(/^127\.0\.0\.1:\d+$/);
    // The URL printed for the user is the admin server's, on the port the OS picked.
    const [, url, port] = await adminLine;
    expect(port).not.toBe('0');
    expect(`127.0.0.1:${port}`).toBe(line.admin);
    expect((await fetch(`${url}/live`)).status).toBe(200);
    const c = echoClient(inbound);
    const r = await unary(c, Buffer.from('via cli'));
    c.close();
    expect(r.err).toBeNull();
    expect(r.response?.toString()).toBe('via cli');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('drains on a SIGTERM sent the moment it logs "meshlet listening" (signals are handled from before the start)', async () => {
    // The log line is written inside the app's start; the handlers used to be armed only after it returned, and a
    // signal in between met node's default action: exit by signal, no drain, no exit code.
    const child = spawnMeshlet(['proxy', '--listen', '127.0.0.1:0', '--upstream', echo.address, '--admin', '127.0.0.1:0']);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const lines: Record<string, unknown>[] = [];
    let rest = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      for (const l of parts) {
        if (!l.startsWith('{')) continue;
        const entry = JSON.parse(l) as Record<string, unknown>;
        lines.push(entry);
        if (entry.msg === 'meshlet listening') child.kill('SIGTERM');
      }
    });
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(lines.some((l) => l.msg === 'shutting down')).toBe(true);
  });

  it('proxy quick mode names a taken admin port and how to get a free one', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const admin = `127.0.0.1:${(taken.address() as AddressInfo).port}`;
      const r = await runMeshlet(['proxy', '--listen', '127.0.0.1:0', '--upstream', echo.address, '--admin', admin]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`EADDRINUSE: address already in use ${admin}`);
      expect(r.stderr).toContain('--admin 127.0.0.1:0 picks a free admin port');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

/** Resolves with the match of `pattern` in the child's stderr so far; rejects if the child exits first. */
function waitForStderr(child: ChildProcess, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stderr?.on('data', (c: Buffer) => {
      text += c.toString();
      const m = text.match(pattern);
      if (m) resolve(m);
    });
    child.once('exit', (code) => reject(new Error(`meshlet exited (${code}) before printing ${pattern}; stderr: ${text}`)));
  });
}
