// SPDX-License-Identifier: Apache-2.0
// First-byte protocol detection on a plaintext listener that serves gRPC-Web: the HTTP/2 preface goes to the
// HTTP/2 engine, anything else (an HTTP/1.1 request line) to node's HTTP/1.1 parser. The bytes read to decide are
// put back (`unshift`), so whichever side takes the socket sees the connection from its first byte.

import type { Socket } from 'node:net';
import { detectProtocol } from '../tls/detect.js';

/** What the first bytes said: `h2c` (the HTTP/2 preface) or `http1` (anything else). */
export type SniffedProtocol = 'h2c' | 'http1';

/**
 * Reads from `socket` until the protocol is known and calls `decided` once, with the socket paused-then-resumed
 * and its bytes put back. A socket that closes or errors first, or sends nothing within `timeoutMs` (0 = no
 * limit), is destroyed and `decided` never runs (`failed` does).
 */
export function sniffProtocol(socket: Socket, timeoutMs: number, decided: (p: SniffedProtocol) => void, failed?: (err: Error) => void): void {
  let head: Buffer = Buffer.alloc(0);
  const timer = timeoutMs > 0 ? setTimeout(() => fail(new Error(`no request within ${timeoutMs} ms`)), timeoutMs) : undefined;
  timer?.unref();
  const cleanup = () => {
    if (timer !== undefined) clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('error', fail);
    socket.removeListener('close', onClose);
  };
  function fail(err: Error): void {
    cleanup();
    socket.destroy();
    failed?.(err);
  }
  const onClose = () => fail(new Error('the peer closed the connection before sending a request'));
  const onData = (chunk: Buffer) => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const kind = detectProtocol(head);
    if (kind === 'more') return;
    cleanup();
    socket.pause();
    socket.unshift(head);
    decided(kind === 'h2c' ? 'h2c' : 'http1');
    // pause() above stopped the flow; whoever took the socket attached its own reader by now.
    socket.resume();
  };
  socket.on('data', onData);
  socket.on('error', fail);
  socket.on('close', onClose);
}
