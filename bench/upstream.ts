// SPDX-License-Identifier: Apache-2.0
// The benchmark's upstream app: a minimal gRPC unary echo server, run as its own process so its CPU is measurable.
// Started by bench/run.ts with an IPC channel; reports its port, then answers `stats` requests with its call count.
//
// Two implementations, chosen by argv[2]:
// - `node-http2` (default): raw node:http2 `stream` events. Echoes the request's gRPC frame(s) back with
//   `:status 200`, `content-type: application/grpc` and a `grpc-status: 0` trailer. That is a complete, valid gRPC
//   unary response for an echo method, at the lowest per-call cost Node can offer, so the proxy's cost is not
//   drowned by the app's and the (proxy + app) comparison stays strict.
// - `grpc-js`: a @grpc/grpc-js server with a generic (identity-serialised) echo method, for a more typical app.
// argv[3], for node-http2 only: the connection receive window each session gets (bench --app-window); node's
// default is 65,535 bytes, which one multiplexed connection shares between all its calls. argv[4], node-http2 only:
// the SETTINGS_MAX_CONCURRENT_STREAMS it advertises (bench --app-max-streams; default 1000). '-' for a default.

import http2 from 'node:http2';
import type { Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { BENCH_METHOD_PATH, type UpstreamMessage, type UpstreamRequest } from './grpc-wire.js';

let calls = 0;

/**
 * `windowBytes`: the connection receive window each session gets (setLocalWindowSize); undefined keeps node's 65,535.
 * `maxStreams`: the SETTINGS_MAX_CONCURRENT_STREAMS the server advertises.
 */
function startNodeHttp2(windowBytes: number | undefined, maxStreams: number): Promise<number> {
  const server = http2.createServer({ settings: { maxConcurrentStreams: maxStreams } });
  if (windowBytes !== undefined) server.on('session', (session) => session.setLocalWindowSize(windowBytes));
  // TCP_NODELAY, as grpc-go and grpc-java (Netty) set by default, so small response frames are never held by Nagle.
  server.on('connection', (socket: Socket) => socket.setNoDelay(true));
  // Connections reset by a proxy being stopped are expected; without a listener they would crash the process.
  server.on('sessionError', () => undefined);
  server.on('stream', (stream, headers) => {
    if (headers[':path'] !== BENCH_METHOD_PATH) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      // The proxy may reset the stream (h2load stopping at the end of a run) after the request ended.
      if (stream.destroyed) return;
      calls++;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    });
    // A proxy that resets the stream must not crash the app.
    stream.on('error', () => undefined);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

function startGrpcJs(): Promise<number> {
  const identity = (b: Buffer): Buffer => b;
  const server = new grpc.Server();
  server.addService(
    {
      Unary: {
        path: BENCH_METHOD_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        calls++;
        callback(null, call.request);
      },
    },
  );
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
}

async function main(): Promise<void> {
  const send = process.send?.bind(process);
  if (!send) throw new Error('bench/upstream.js must be started by bench/run.js with an IPC channel');
  const kind = process.argv[2] ?? 'node-http2';
  const arg = (i: number): number | undefined => (process.argv[i] === undefined || process.argv[i] === '-' ? undefined : Number(process.argv[i]));
  const port = kind === 'grpc-js' ? await startGrpcJs() : await startNodeHttp2(arg(3), arg(4) ?? 1000);
  process.on('message', (message: UpstreamRequest) => {
    if (message.type === 'stats') send({ type: 'stats', calls } satisfies UpstreamMessage);
  });
  // The parent going away (even by SIGKILL) closes the channel: never outlive the harness.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', port } satisfies UpstreamMessage);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
