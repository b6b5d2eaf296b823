// SPDX-License-Identifier: Apache-2.0
// Harness for the bench floors' tests (test/unit/bench/{node,h2}-floor.test.ts): an in-process node:http2 upstream
// whose behaviour is chosen by :path, the floor script started under tsx on port 0, and a gRPC-shaped call.

import { type ChildProcess, spawn } from 'node:child_process';
import http2, { type ClientHttp2Session, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { NGHTTP2_INTERNAL_ERROR } = http2.constants;
export const GRPC = { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' };

export interface Reply {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders | undefined;
  body: Buffer;
  /** RST_STREAM code the call ended with (0 after a normal end). */
  rstCode: number | undefined;
}

/**
 * Upstream paths: `/bench.Echo/Unary` echoes with metadata and trailers, `/trailers-only`, `/no-trailers`,
 * `/reset` (before headers), `/reset-after-headers`, `/drop-connection`; anything else hangs (see `onHang`).
 */
export class FloorRelay {
  upstream!: Http2Server;
  floor!: ChildProcess;
  client!: ClientHttp2Session;
  /** Request headers of the last call the upstream echoed. */
  echoed: IncomingHttpHeaders = {};
  /** Receives the upstream side of the next call on /hang. */
  onHang: (stream: ServerHttp2Stream) => void = () => undefined;

  /** Starts the upstream, then `node --import tsx <script>` relaying to it, then a client to the floor. */
  async start(script: string): Promise<void> {
    const port = await this.startFloor(script, await this.startUpstream());
    this.client = http2.connect(`http://127.0.0.1:${port}`);
  }

  /** One call; resolves when the stream closes (a reset included: see `rstCode`). */
  call(path: string, body: Buffer, extra: Record<string, string | string[]> = {}): Promise<Reply> {
    return new Promise((resolve) => {
      const stream = this.client.request({ ...GRPC, ...extra, ':path': path });
      let headers: IncomingHttpHeaders = {};
      let trailers: IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      stream.on('response', (h) => (headers = h));
      stream.on('trailers', (t) => (trailers = t));
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', () => undefined); // a reset: 'close' follows with rstCode
      stream.on('close', () => resolve({ headers, trailers, body: Buffer.concat(chunks), rstCode: stream.rstCode }));
      stream.end(body);
    });
  }

  async stop(): Promise<void> {
    this.client?.close();
    const floor = this.floor;
    if (floor && floor.exitCode === null && floor.signalCode === null) {
      const exited = new Promise((resolve) => floor.once('exit', resolve));
      floor.kill('SIGTERM');
      await exited;
    }
    await new Promise((resolve) => this.upstream?.close(resolve));
  }

  private startUpstream(): Promise<string> {
    const upstream = http2.createServer();
    this.upstream = upstream;
    upstream.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      stream.on('error', () => undefined);
      switch (headers[':path']) {
        case '/bench.Echo/Unary': {
          this.echoed = headers;
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-md': 'h' }, { waitForTrailers: true });
            stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-trailer': 't' }));
            stream.end(Buffer.concat(chunks));
          });
          return;
        }
        case '/trailers-only':
          stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'nope' }, { endStream: true });
          return;
        case '/no-trailers':
          stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
          stream.end(Buffer.alloc(5));
          return;
        case '/reset':
          stream.close(NGHTTP2_INTERNAL_ERROR);
          return;
        case '/reset-after-headers':
          // Headers and DATA, then RST_STREAM instead of trailers. (close() on a stream still writable would send
          // END_STREAM first: node:http2 ends the writable side before it resets.)
          stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
          stream.once('wantTrailers', () => stream.close(NGHTTP2_INTERNAL_ERROR));
          stream.end(Buffer.from([0, 0, 0, 0, 9]));
          return;
        case '/drop-connection':
          stream.session?.destroy();
          return;
        default: // '/hang': never answers
          this.onHang(stream);
      }
    });
    return new Promise((resolve) => upstream.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(upstream.address() as AddressInfo).port}`)));
  }

  private startFloor(script: string, upstreamAddress: string): Promise<number> {
    const floor = spawn(process.execPath, ['--import', 'tsx', script, '--listen', '127.0.0.1:0', '--upstream', upstreamAddress], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.floor = floor;
    return new Promise((resolve, reject) => {
      let out = '';
      floor.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      floor.once('exit', (code) => reject(new Error(`${script} exited (${code}) before listening: ${out}`)));
    });
  }
}
