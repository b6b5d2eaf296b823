// SPDX-License-Identifier: Apache-2.0
// Drives the nghttp2 command-line peers (h2load, nghttp) and curl for the interop tests: finds them, runs them as
// tracked child processes, frames gRPC bodies, and parses nghttp's verbose frame log and curl's -v trailers.

import { spawn, spawnSync } from 'node:child_process';

/** The external tools the interop tests drive, with the Debian package that installs each. */
export const INTEROP_TOOLS = { h2load: 'nghttp2-client', nghttp: 'nghttp2-client', curl: 'curl' } as const;
export type InteropTool = keyof typeof INTEROP_TOOLS;

/** True when `tool` runs; curl must also be built with HTTP/2 (nghttp2), or `--http2-prior-knowledge` fails. */
function usable(tool: InteropTool): boolean {
  const r = spawnSync(tool, ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) return false;
  return tool !== 'curl' || /^Features:.*\bHTTP2\b/m.test(r.stdout);
}

/** The tools that are missing (or, for curl, lack HTTP/2), each named with its Debian package. Empty = all there. */
export function missingInteropTools(): string[] {
  return (Object.keys(INTEROP_TOOLS) as InteropTool[]).filter((t) => !usable(t)).map((t) => `${t} (Debian package ${INTEROP_TOOLS[t]})`);
}

/** What a finished child process left behind. */
export interface ToolResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/**
 * Runs `bin args` to completion and collects its output. `defer` receives a closer that kills the child (SIGKILL)
 * if it is still running and waits for it to exit, so an afterEach leaves no process behind even when a test failed
 * or timed out. Rejects only when the executable cannot be started.
 */
export function runTool(bin: InteropTool, args: readonly string[], defer: (fn: () => Promise<unknown>) => void): Promise<ToolResult> {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => stdout.push(c));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const done = new Promise<ToolResult>((resolve, reject) => {
    child.once('error', reject);
    // 'close' (not 'exit'): both pipes are drained by then.
    child.once('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(stdout), stderr }));
  });
  defer(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await done.catch(() => undefined);
  });
  return done;
}

/** One gRPC length-prefixed message (PROTOCOL-HTTP2.md): flag 0, 4-byte big-endian length, `message`. */
export function grpcFrame(message: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

/** `size` bytes in which every 4-byte word differs from its neighbours, so a lost or moved chunk shows. */
export function patternedBytes(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) b.writeUInt32BE(Math.imul(i + 1, 2654435761) >>> 0, i);
  return b;
}

/** One HEADERS block nghttp received, with the fields in the order it printed them. */
export interface ReceivedHeaders {
  readonly endStream: boolean;
  readonly fields: Array<[string, string]>;
}

/** What nghttp -v logged receiving on one stream: header blocks, DATA bytes, and RST_STREAM if any. */
export interface ReceivedStream {
  readonly headers: ReceivedHeaders[];
  dataBytes: number;
  rstStream: boolean;
}

const FIELD = /^\[\s*[\d.]+\] recv \(stream_id=(\d+)\) (:?[^:]+): ?(.*)$/;
const HEADERS = /^\[\s*[\d.]+\] recv HEADERS frame <length=\d+, flags=0x([0-9a-f]+), stream_id=(\d+)>/;
const DATA = /^\[\s*[\d.]+\] recv DATA frame <length=(\d+), flags=0x[0-9a-f]+, stream_id=(\d+)>/;
const RST = /^\[\s*[\d.]+\] recv RST_STREAM frame <length=\d+, flags=0x[0-9a-f]+, stream_id=(\d+)>/;

/**
 * Parses `nghttp -v` output (run with `-n`, so no body bytes are interleaved). nghttp prints each decoded field as
 * `recv (stream_id=N) name: value` and then the `recv HEADERS frame <..., flags=0xF, ...>` line that carried them;
 * flag 0x1 is END_STREAM, so the block that ends the stream is the trailers (or a Trailers-Only response).
 * Streams are keyed by id; connection-level frames (stream 0) are ignored.
 */
export function parseNghttpVerbose(text: string): Map<number, ReceivedStream> {
  const streams = new Map<number, ReceivedStream>();
  const pending = new Map<number, Array<[string, string]>>();
  const stream = (id: number): ReceivedStream => {
    let s = streams.get(id);
    if (s === undefined) streams.set(id, (s = { headers: [], dataBytes: 0, rstStream: false }));
    return s;
  };
  for (const line of text.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = FIELD.exec(line)) !== null) {
      const id = Number(m[1]);
      const fields = pending.get(id) ?? [];
      fields.push([m[2] as string, (m[3] as string).trimEnd()]);
      pending.set(id, fields);
    } else if ((m = HEADERS.exec(line)) !== null) {
      const id = Number(m[2]);
      stream(id).headers.push({ endStream: (parseInt(m[1] as string, 16) & 0x1) !== 0, fields: pending.get(id) ?? [] });
      pending.delete(id);
    } else if ((m = DATA.exec(line)) !== null) {
      stream(Number(m[2])).dataBytes += Number(m[1]);
    } else if ((m = RST.exec(line)) !== null) {
      stream(Number(m[1])).rstStream = true;
    }
  }
  return streams;
}

/**
 * The trailer fields curl -v printed: the `< name: value` lines after the blank `< ` line that ends the response
 * headers (curl prints HTTP/2 trailers in the same form once the body is done).
 */
export function curlTrailers(stderr: string): Array<[string, string]> {
  const lines = stderr.split('\n').map((l) => l.replace(/\r$/, ''));
  const end = lines.findIndex((l) => l === '< ' || l === '<');
  if (end < 0) return [];
  const out: Array<[string, string]> = [];
  for (const l of lines.slice(end + 1)) {
    const m = /^< ([^:]+): ?(.*)$/.exec(l);
    if (m !== null) out.push([m[1] as string, m[2] as string]);
  }
  return out;
}
