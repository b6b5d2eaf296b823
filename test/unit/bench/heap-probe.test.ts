// SPDX-License-Identifier: Apache-2.0
// bench/heap-probe.ts: the inspector URL in a process's log, the WebSocket frames of the minimal CDP client, and a
// real probe of a node child started with --inspect-port (SIGUSR1, full GC, process.memoryUsage()).

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeServerFrames, encodeTextFrame, INSPECT_PORT_FLAG, inspectorUrl, probeHeapAfterGc } from '../../../bench/heap-probe.js';
import type { Tracked } from '../../../bench/processes.js';

describe('inspectorUrl', () => {
  it('takes the last "Debugger listening" URL, not the "ending" lines', () => {
    const log = [
      'Debugger listening on ws://127.0.0.1:40001/aaaa',
      'For help, see: https://nodejs.org/en/docs/inspector',
      'Debugger ending on ws://127.0.0.1:40001/aaaa',
      '{"level":30,"msg":"listening"}',
      'Debugger listening on ws://127.0.0.1:40002/bbbb',
    ].join('\n');
    const url = inspectorUrl(log);
    expect(url?.port).toBe('40002');
    expect(url?.pathname).toBe('/bbbb');
  });

  it('is undefined when the inspector never started', () => {
    expect(inspectorUrl('{"level":30,"msg":"listening"}\n')).toBeUndefined();
  });
});

/** Unmasks a client frame as a server would (RFC 6455 §5.3), for short payloads. */
function unmask(frame: Buffer): { fin: boolean; opcode: number; masked: boolean; text: string } {
  const len = (frame[1] as number) & 0x7f;
  const offset = len === 126 ? 4 : len === 127 ? 10 : 2;
  const realLen = len === 126 ? frame.readUInt16BE(2) : len === 127 ? Number(frame.readBigUInt64BE(2)) : len;
  const mask = frame.subarray(offset, offset + 4);
  const body = Buffer.from(frame.subarray(offset + 4, offset + 4 + realLen));
  for (let i = 0; i < body.length; i++) body[i] = (body[i] as number) ^ (mask[i % 4] as number);
  return { fin: ((frame[0] as number) & 0x80) !== 0, opcode: (frame[0] as number) & 0x0f, masked: ((frame[1] as number) & 0x80) !== 0, text: body.toString() };
}

describe('encodeTextFrame', () => {
  const mask = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

  it('masks a short text frame: the RFC 6455 §5.7 "Hello" example', () => {
    expect(encodeTextFrame('Hello', mask)).toEqual(Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]));
  });

  it('uses the 16-bit and 64-bit length forms past 125 and 65535 bytes', () => {
    const medium = encodeTextFrame('x'.repeat(300), mask);
    expect(medium[1]).toBe(0x80 | 126);
    expect(unmask(medium)).toEqual({ fin: true, opcode: 1, masked: true, text: 'x'.repeat(300) });
    const large = encodeTextFrame('y'.repeat(70_000), mask);
    expect(large[1]).toBe(0x80 | 127);
    expect(unmask(large).text).toHaveLength(70_000);
  });
});

describe('decodeServerFrames', () => {
  const frame = (opcode: number, text: string): Buffer => {
    const payload = Buffer.from(text);
    const head =
      payload.length < 126 ? Buffer.from([0x80 | opcode, payload.length]) : Buffer.from([0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff]);
    return Buffer.concat([head, payload]);
  };

  it('splits whole frames and keeps a partial one for the next chunk', () => {
    const bytes = Buffer.concat([frame(1, '{"id":1}'), frame(1, 'z'.repeat(200)), frame(1, '{"id":3}').subarray(0, 5)]);
    const { frames, rest } = decodeServerFrames(bytes);
    expect(frames.map((f) => [f.opcode, f.payload.length])).toEqual([
      [1, 8],
      [1, 200],
    ]);
    expect(rest).toHaveLength(5);
    const next = decodeServerFrames(Buffer.concat([rest, frame(1, '{"id":3}').subarray(5)]));
    expect(next.frames.map((f) => f.payload.toString())).toEqual(['{"id":3}']);
    expect(next.rest).toHaveLength(0);
  });

  it('waits for the extended length bytes before reading them', () => {
    expect(decodeServerFrames(Buffer.from([0x81, 126, 0x01])).frames).toEqual([]);
    expect(decodeServerFrames(Buffer.from([0x81, 127, 0, 0, 0])).frames).toEqual([]);
  });
});

describe('probeHeapAfterGc', () => {
  let dir: string | undefined;
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    child = undefined;
    dir = undefined;
  });

  it('activates the inspector of a node child, collects garbage and reads its memory, twice', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'heap-probe-'));
    const logPath = path.join(dir, 'child.log');
    // The child leaves 20 MB of garbage behind, then says "ready" on stdout; node's inspector lines go to stderr (the log).
    const script = "let g=[];for(let i=0;i<2e5;i++)g.push({i,s:'x'.repeat(50)});g=null;console.log('ready');setInterval(()=>{},1e3)";
    const log = openSync(logPath, 'a');
    const proc = spawn(process.execPath, [INSPECT_PORT_FLAG, '-e', script], { stdio: ['ignore', 'pipe', log] });
    closeSync(log);
    child = proc;
    if (!proc.stdout) throw new Error('no stdout pipe');
    const [chunk] = (await once(proc.stdout, 'data')) as [Buffer];
    expect(chunk.toString()).toContain('ready');
    const exited = once(proc, 'exit').then(() => 0);
    const tracked: Tracked = {
      name: 'heap-child',
      child: proc,
      pid: proc.pid as number,
      logPath,
      exited,
      hasExited: () => proc.exitCode !== null,
    };
    const first = await probeHeapAfterGc(tracked);
    expect(first.afterGc.heapUsed).toBeGreaterThan(0);
    expect(first.afterGc.heapUsed).toBeLessThan(first.beforeGc.heapUsed);
    expect(first.afterGc.rss).toBeGreaterThan(first.afterGc.heapUsed);
    const second = await probeHeapAfterGc(tracked);
    expect(second.afterGc.heapUsed).toBeGreaterThan(0);
    // One activation: the second probe reuses the inspector the first one opened.
    expect(readFileSync(logPath, 'utf8').match(/Debugger listening/g)).toHaveLength(1);
  });

  it('rejects when the process was started without an inspector port', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'heap-probe-'));
    const logPath = path.join(dir, 'child.log');
    const log = openSync(logPath, 'a');
    // SIGUSR1 is handled here so that the default (open the inspector on 9229) cannot happen.
    const proc = spawn(process.execPath, ['-e', "process.on('SIGUSR1',()=>{});console.log('ready');setInterval(()=>{},1e3)"], {
      stdio: ['ignore', 'pipe', log],
    });
    closeSync(log);
    child = proc;
    if (!proc.stdout) throw new Error('no stdout pipe');
    await once(proc.stdout, 'data');
    const tracked: Tracked = { name: 'plain', child: proc, pid: proc.pid as number, logPath, exited: once(proc, 'exit').then(() => 0), hasExited: () => false };
    await expect(probeHeapAfterGc(tracked, 300)).rejects.toThrow(/no inspector after SIGUSR1/);
  });
});
