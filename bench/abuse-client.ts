// SPDX-License-Identifier: Apache-2.0
// The abusive HTTP/2 client of `npm run bench -- --suite abuse` (bench/abuse.ts), run as its own process so that
// its work is on neither the sidecar's nor the harness's event loop. It abuses until it gets SIGTERM, then prints one
// JSON line of what it saw: {"connections":…,"resets":…,"goaways":…,"streams":…}.
//
// Usage: node dist/bench/abuse-client.js MODE PORT [N]
//   flood  Stream flood (issue 14's probe): on one connection, N (default 100,000) requests that never send DATA
//          nor END_STREAM, as fast as the socket takes them; when the server ends the connection (GOAWAY), a new
//          one does the same, for as long as it runs.
//   hold   Held streams: N (default 50) connections, each opening as many streams as the server allows (its
//          SETTINGS_MAX_CONCURRENT_STREAMS, at most 1,000) with a 1 KiB message and no END_STREAM, then holding
//          them open and answering SETTINGS and PING, for as long as it runs. A connection the server ends is
//          opened again.

import net from 'node:net';
import { CONNECTION_PREFACE, encodeHeaders, FRAME_HEADER_BYTES } from '../src/h2/frame.js';
import { HpackEncoder } from '../src/h2/hpack/encoder.js';
import { grpcRequestFrame } from './grpc-wire.js';

const FRAME_SETTINGS = 4;
const FRAME_RST_STREAM = 3;
const FRAME_PING = 6;
const FRAME_GOAWAY = 7;
const SETTINGS_MAX_CONCURRENT_STREAMS = 3;

export interface AbuseCounts {
  connections: number;
  resets: number;
  goaways: number;
  streams: number;
}

const counts: AbuseCounts = { connections: 0, resets: 0, goaways: 0, streams: 0 };
let stopping = false;

const REQUEST: string[] = [
  ':method', 'POST',
  ':scheme', 'http',
  ':path', '/bench.Echo/Unary',
  ':authority', 'bench',
  'content-type', 'application/grpc',
  'te', 'trailers',
];

/** `count` request HEADERS frames (no END_STREAM) for streams 1, 3, 5, …, HPACK-encoded in order for a new connection. */
export function requestHeaders(count: number): Buffer[] {
  const enc = new HpackEncoder();
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) frames.push(encodeHeaders(1 + 2 * i, enc.encode(REQUEST), false, 16384));
  return frames;
}

/** A DATA frame without END_STREAM. */
function dataFrame(streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = 0;
  head[4] = 0;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

const SETTINGS_EMPTY = Buffer.from([0, 0, 0, FRAME_SETTINGS, 0, 0, 0, 0, 0]);
const SETTINGS_ACK = Buffer.from([0, 0, 0, FRAME_SETTINGS, 1, 0, 0, 0, 0]);

/**
 * One connection: preface + SETTINGS, ACKs the server's SETTINGS and answers PINGs, counts RST_STREAM and GOAWAY.
 * `onSettings` gets the server's SETTINGS_MAX_CONCURRENT_STREAMS (Infinity when absent) on its first SETTINGS.
 */
function open(port: number, onSettings: (socket: net.Socket, maxStreams: number) => void, onClosed: () => void): void {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  counts.connections++;
  let buf: Buffer = Buffer.alloc(0);
  let settingsSeen = false;
  socket.on('error', () => {});
  socket.on('close', onClosed);
  socket.on('connect', () => socket.write(Buffer.concat([CONNECTION_PREFACE, SETTINGS_EMPTY])));
  socket.on('data', (d: Buffer) => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    let off = 0;
    while (buf.length - off >= FRAME_HEADER_BYTES) {
      const len = buf.readUIntBE(off, 3);
      if (buf.length - off < FRAME_HEADER_BYTES + len) break;
      const type = buf[off + 3];
      const flags = buf[off + 4] as number;
      const body = off + FRAME_HEADER_BYTES;
      if (type === FRAME_RST_STREAM) counts.resets++;
      else if (type === FRAME_GOAWAY) counts.goaways++;
      else if (type === FRAME_PING && (flags & 1) === 0) {
        const pong = Buffer.from(buf.subarray(off, body + len));
        pong[4] = 1;
        socket.write(pong);
      } else if (type === FRAME_SETTINGS && (flags & 1) === 0) {
        let maxStreams = Infinity;
        for (let i = 0; i + 6 <= len; i += 6) {
          if (buf.readUInt16BE(body + i) === SETTINGS_MAX_CONCURRENT_STREAMS) maxStreams = buf.readUInt32BE(body + i + 2);
        }
        socket.write(SETTINGS_ACK);
        if (!settingsSeen) {
          settingsSeen = true;
          onSettings(socket, maxStreams);
        }
      }
      off = body + len;
    }
    buf = buf.subarray(off);
  });
}

async function writeAll(socket: net.Socket, frames: readonly Buffer[]): Promise<void> {
  for (const f of frames) {
    if (socket.destroyed || stopping) return;
    counts.streams++;
    if (!socket.write(f)) {
      await new Promise<void>((resolve) => {
        socket.once('drain', resolve);
        socket.once('close', resolve);
      });
    }
  }
}

function flood(port: number, n: number): void {
  const frames = requestHeaders(n);
  const again = (): void => {
    if (!stopping) open(port, (socket) => void writeAll(socket, frames), again);
  };
  again();
}

function hold(port: number, n: number): void {
  const message = grpcRequestFrame(1024);
  const again = (): void => {
    if (stopping) return;
    open(
      port,
      (socket, maxStreams) => {
        const k = Math.min(maxStreams, 1000);
        const frames = requestHeaders(k).flatMap((h, i) => [h, dataFrame(1 + 2 * i, message)]);
        counts.streams += k;
        socket.write(Buffer.concat(frames));
      },
      again,
    );
  };
  for (let i = 0; i < n; i++) again();
}

function main(argv: readonly string[]): void {
  const [mode, portText, nText] = argv;
  const port = Number(portText);
  if ((mode !== 'flood' && mode !== 'hold') || !Number.isInteger(port) || port <= 0) {
    console.error('usage: abuse-client.js flood|hold PORT [N]');
    process.exit(2);
  }
  const n = nText === undefined ? (mode === 'flood' ? 100_000 : 50) : Number(nText);
  process.on('SIGTERM', () => {
    stopping = true;
    process.stdout.write(`${JSON.stringify(counts)}\n`, () => process.exit(0));
  });
  if (mode === 'flood') flood(port, n);
  else hold(port, n);
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) main(process.argv.slice(2));
