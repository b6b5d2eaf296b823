// SPDX-License-Identifier: Apache-2.0
// Wire-level helpers shared by the benchmark harness and its upstream: the bench method, request bodies in gRPC
// framing, the upstream's IPC messages, and a one-call preflight that proves a path really answers gRPC.

import http2 from 'node:http2';

/** The one method the benchmark calls. */
export const BENCH_METHOD_PATH = '/bench.Echo/Unary';

/** Messages the upstream sends to the harness over IPC. */
export type UpstreamMessage = { type: 'ready'; port: number } | { type: 'stats'; calls: number };
/** Messages the harness sends to the upstream over IPC. */
export type UpstreamRequest = { type: 'stats' };

/**
 * A gRPC length-prefixed message (PROTOCOL-HTTP2.md): 1 byte compressed flag (0), 4 bytes big-endian length,
 * then a protobuf message `{ 1: bytes }` whose field holds `payloadBytes` bytes of 'x'.
 * @param payloadBytes size of the bytes field; 0 to 2^28. The whole frame is a few bytes larger.
 */
export function grpcRequestFrame(payloadBytes: number): Buffer {
  const varint: number[] = [];
  let n = payloadBytes;
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    varint.push(byte);
  } while (n > 0);
  const message = Buffer.concat([Buffer.from([0x0a, ...varint]), Buffer.alloc(payloadBytes, 'x')]);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

/** TLS for a preflight call to a TLS listener: PEM contents, not paths. */
export interface PreflightTls {
  /** Roots the server's chain must end in. */
  ca: string;
  /** Client certificate chain and key, for listeners that require one (mTLS). */
  cert?: string;
  key?: string;
  /** SNI and the name the server's certificate is checked against. */
  servername: string;
}

/**
 * Makes one unary bench call on a fresh HTTP/2 connection and resolves only if it is a correct gRPC echo:
 * `:status 200`, `application/grpc`, the request frame echoed, and `grpc-status: 0` (in trailers, or in headers for
 * Trailers-Only). Rejects with a description of what came back otherwise, or after `timeoutMs` (default 2000 ms).
 * With `tls`, the connection is TLS (ALPN h2) with that trust, client certificate and server name; else h2c.
 */
export function preflightCall(port: number, body: Buffer, timeoutMs = 2000, tls?: PreflightTls): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const session = tls
      ? http2.connect(`https://127.0.0.1:${port}`, { ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.servername })
      : http2.connect(`http://127.0.0.1:${port}`);
    const timer = setTimeout(() => finish(new Error(`no complete reply within ${timeoutMs} ms`)), timeoutMs);
    let done = false;
    function finish(err: Error | undefined): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      if (err) reject(err);
      else resolve();
    }
    session.on('error', (err) => finish(err));
    const stream = session.request({
      ':method': 'POST',
      ':path': BENCH_METHOD_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (err) => finish(err));
    stream.on('close', () => {
      const status = trailers['grpc-status'] ?? headers['grpc-status'];
      const reply = Buffer.concat(chunks);
      if (headers[':status'] !== 200) return finish(new Error(`HTTP status ${String(headers[':status'])}`));
      if (status !== '0') {
        const message = trailers['grpc-message'] ?? headers['grpc-message'];
        return finish(new Error(`grpc-status ${String(status)} ${String(message ?? '')}`.trim()));
      }
      if (!reply.equals(body)) return finish(new Error(`echo mismatch: sent ${body.length} B, got ${reply.length} B`));
      finish(undefined);
    });
    stream.end(body);
  });
}
