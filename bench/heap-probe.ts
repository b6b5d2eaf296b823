// SPDX-License-Identifier: Apache-2.0
// Reads a Node.js proxy's heap after a full GC from outside, with no change to the product: the bench starts node
// proxies with `--inspect-port=127.0.0.1:0` (which only sets the port), activates the inspector with SIGUSR1 after
// the CPU of a measurement has been read, and asks over the Chrome DevTools protocol for
// HeapProfiler.collectGarbage, then process.memoryUsage(). The WebSocket client here is the minimum CDP needs
// (RFC 6455: masked text frames out, unmasked frames in), because node 20 has no WebSocket client without a flag.

import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import net from 'node:net';
import { delay, type Tracked } from './processes.js';

/** node flag that makes SIGUSR1 open the inspector on a free loopback port instead of 9229. */
export const INSPECT_PORT_FLAG = '--inspect-port=127.0.0.1:0';

/** process.memoryUsage() of a proxy, in bytes. */
export interface HeapUsage {
  /** V8 heap in use after the GC: the live JS objects. */
  heapUsed: number;
  /** V8 heap committed (used + free pages V8 keeps). */
  heapTotal: number;
  /** Memory of C++ objects bound to JS objects (Buffers, sockets), live after the GC. */
  external: number;
  /** The ArrayBuffer (Buffer) part of `external`. */
  arrayBuffers: number;
  /** Resident set size of the process when read. */
  rss: number;
}

/**
 * The inspector's WebSocket URL from a process's stderr: the last "Debugger listening on ws://host:port/id" line
 * (a process prints one per activation). Undefined when there is none. Pure.
 */
export function inspectorUrl(logText: string): URL | undefined {
  const all = [...logText.matchAll(/Debugger listening on (ws:\/\/[^\s]+)/g)];
  const last = all[all.length - 1]?.[1];
  return last === undefined ? undefined : new URL(last);
}

/** One client → server WebSocket text frame (FIN, opcode 1), masked with `mask` (4 bytes) as RFC 6455 §5.3 requires. Pure. */
export function encodeTextFrame(text: string, mask: Buffer): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x81, 0x80 | len]) : len < 65_536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (len >= 126 && len < 65_536) {
    head[0] = 0x81;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  } else if (len >= 65_536) {
    head[0] = 0x81;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = (payload[i] as number) ^ (mask[i % 4] as number);
  return Buffer.concat([head, mask.subarray(0, 4), masked]);
}

/** A frame the server sent: its opcode and (unmasked) payload. */
export interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

/**
 * Splits the bytes received so far into complete server frames, returning them and the bytes left over for the next
 * chunk. Servers never mask (RFC 6455 §5.1); fragmented messages are not reassembled (CDP replies are single
 * frames). Pure.
 */
export function decodeServerFrames(buffer: Buffer): { frames: ServerFrame[]; rest: Buffer } {
  const frames: ServerFrame[] = [];
  let offset = 0;
  for (;;) {
    if (buffer.length - offset < 2) break;
    const opcode = (buffer[offset] as number) & 0x0f;
    let len = (buffer[offset + 1] as number) & 0x7f;
    let header = 2;
    if (len === 126) {
      if (buffer.length - offset < 4) break;
      len = buffer.readUInt16BE(offset + 2);
      header = 4;
    } else if (len === 127) {
      if (buffer.length - offset < 10) break;
      len = Number(buffer.readBigUInt64BE(offset + 2));
      header = 10;
    }
    if (buffer.length - offset < header + len) break;
    frames.push({ opcode, payload: buffer.subarray(offset + header, offset + header + len) });
    offset += header + len;
  }
  return { frames, rest: buffer.subarray(offset) };
}

/** A file's text from byte `from` on, at most 64 KiB (a proxy's log can be large when its access log is on). */
function fileFrom(file: string, from: number): string {
  const size = statSync(file).size;
  const fd = openSync(file, 'r');
  try {
    const length = Math.max(0, Math.min(size - from, 65_536));
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, from);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Inspector URL per process already activated (a fresh process appends to the same log as its predecessors). */
const activated = new WeakMap<Tracked, URL>();

/** A minimal CDP session: `send(method, params)` resolves with the result or rejects with the error. */
export interface CdpSession {
  send(method: string, params?: object): Promise<unknown>;
  close(): void;
}

/** A CDP session over one WebSocket. */
async function openCdp(url: URL, timeoutMs: number): Promise<CdpSession> {
  const socket = net.connect(Number(url.port), url.hostname);
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let nextId = 1;
  let received: Buffer = Buffer.alloc(0);
  let upgraded = false;
  const failAll = (err: Error): void => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`inspector at ${url.host} did not upgrade within ${timeoutMs} ms`)), timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('connect', () => {
      const key = randomBytes(16).toString('base64');
      socket.write(
        `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (!upgraded) {
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = received.subarray(0, received.indexOf('\r\n')).toString();
        if (!/^HTTP\/1\.1 101/.test(status)) {
          clearTimeout(timer);
          reject(new Error(`inspector refused the WebSocket upgrade: ${status}`));
          return;
        }
        upgraded = true;
        received = received.subarray(end + 4);
        clearTimeout(timer);
        resolve();
      }
      const { frames, rest } = decodeServerFrames(received);
      received = rest;
      for (const f of frames) {
        if (f.opcode !== 1) continue;
        const msg = JSON.parse(f.payload.toString('utf8')) as { id?: number; result?: unknown; error?: { message: string } };
        const p = msg.id === undefined ? undefined : pending.get(msg.id);
        if (!p || msg.id === undefined) continue;
        pending.delete(msg.id);
        if (msg.error) p.reject(new Error(msg.error.message));
        else p.resolve(msg.result);
      }
    });
  });
  socket.on('error', failAll);
  socket.on('close', () => failAll(new Error('inspector connection closed')));
  return {
    send(method, params = {}) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${method}: no answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => (clearTimeout(timer), resolve(v)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
        socket.write(encodeTextFrame(JSON.stringify({ id, method, params }), randomBytes(4)));
      });
    },
    close() {
      socket.destroy();
    },
  };
}

/** A proxy's memory as the run left it, and after a full GC: what was garbage or free heap, and what was live. */
export interface HeapProbe {
  beforeGc: HeapUsage;
  afterGc: HeapUsage;
}

/**
 * Memory of `proxy` (a node process started with INSPECT_PORT_FLAG) as it is, then after a full GC. The first call activates the
 * inspector with SIGUSR1 and it stays listening (no session attached) until the process exits: call this only
 * after a measurement's CPU has been read. Rejects when the inspector does not come up within `timeoutMs`
 * (default 10 s) or a command fails.
 */
export async function probeHeapAfterGc(proxy: Tracked, timeoutMs = 10_000): Promise<HeapProbe> {
  const cdp = await inspectProcess(proxy, timeoutMs);
  const memoryUsage = async (): Promise<HeapUsage> => {
    const reply = (await cdp.send('Runtime.evaluate', {
      expression: 'JSON.stringify(process.memoryUsage())',
      returnByValue: true,
    })) as { result?: { value?: string } };
    const value = reply.result?.value;
    if (typeof value !== 'string') throw new Error(`${proxy.name}: process.memoryUsage() gave no value`);
    return JSON.parse(value) as HeapUsage;
  };
  try {
    const beforeGc = await memoryUsage();
    await cdp.send('HeapProfiler.collectGarbage');
    return { beforeGc, afterGc: await memoryUsage() };
  } finally {
    cdp.close();
  }
}

/**
 * A CDP session with `proxy` (a node process started with INSPECT_PORT_FLAG). The first call activates the
 * inspector with SIGUSR1 and it stays listening until the process exits. Rejects when the inspector does not come
 * up within `timeoutMs`.
 */
export async function inspectProcess(proxy: Tracked, timeoutMs = 10_000): Promise<CdpSession> {
  let url = activated.get(proxy);
  if (url === undefined) {
    const from = statSync(proxy.logPath).size;
    process.kill(proxy.pid, 'SIGUSR1');
    const deadline = Date.now() + timeoutMs;
    // The log is the only place node announces the port; poll it (a few ms normally).
    for (let wait = 5; url === undefined && Date.now() < deadline; wait = Math.min(wait * 2, 200)) {
      await delay(wait);
      url = inspectorUrl(fileFrom(proxy.logPath, from));
    }
    if (url === undefined) throw new Error(`${proxy.name}: no inspector after SIGUSR1 (started without ${INSPECT_PORT_FLAG}?)`);
    activated.set(proxy, url);
  }
  return openCdp(url, timeoutMs);
}
