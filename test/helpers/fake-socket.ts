// SPDX-License-Identifier: Apache-2.0
// A stand-in for net.Socket under meshlet's HTTP/2 engine, for tests that drive a connection synchronously: feed
// bytes with `emit('data', …)`, read what the engine wrote as frames, and set `writableLength` to play a peer that
// does not read.

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { FrameReader } from '../../src/h2/frame-reader.js';

export interface WrittenFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

export class FakeSocket extends EventEmitter {
  written = 0;
  destroyed = false;
  ended = false;
  /** What node would report as queued-but-unsent bytes; tests raise it to simulate a peer that stops reading. */
  writableLength = 0;
  remoteAddress = '127.0.0.1';
  remotePort = 1;
  private readonly chunks: Buffer[] = [];

  write(b: Buffer): boolean {
    this.written += b.length;
    this.chunks.push(Buffer.from(b));
    return true;
  }
  cork(): void {}
  uncork(): void {}
  end(): void {
    this.ended = true;
    this.destroy();
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }

  /** This socket typed as what H2Connection takes. */
  get asSocket(): Socket {
    return this as unknown as Socket;
  }

  /** Every frame written so far. `client` skips the connection preface a client role writes first. */
  frames(client = false): WrittenFrame[] {
    const out: WrittenFrame[] = [];
    let bytes = Buffer.concat(this.chunks);
    if (client) bytes = bytes.subarray(24);
    new FrameReader({ onFrame: (type, flags, streamId, buf, start, end) => out.push({ type, flags, streamId, payload: Buffer.from(buf.subarray(start, end)) }) }, 16777215).push(bytes);
    return out;
  }
}
