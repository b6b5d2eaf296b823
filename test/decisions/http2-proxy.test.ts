// SPDX-License-Identifier: Apache-2.0
// Decision record test: http2-proxy 5.0.53, used as its README shows for HTTP/2, cannot proxy gRPC.
// Pins the observed behaviour behind docs/decisions.md "Data plane on node:http2, not http2-proxy".

import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import proxy from 'http2-proxy';
import { afterEach, describe, expect, it } from 'vitest';

/** The error http2-proxy hands to the web() callback: an Error with the HTTP status it suggests answering. */
type ProxyFailure = Error & { statusCode?: number; code?: string };

/** One gRPC frame: 5-byte header (uncompressed, big-endian length) + protobuf `{1: "hi"}`. */
const REQUEST_FRAME = Buffer.from([0, 0, 0, 0, 4, 0x0a, 0x02, 0x68, 0x69]);

const identity = (b: Buffer): Buffer => b;
const ECHO_SERVICE: grpc.ServiceDefinition = {
  Unary: {
    path: '/bench.Echo/Unary',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
const EchoClient = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function portOf(server: http.Server | http2.Http2Server): number {
  return (server.address() as AddressInfo).port;
}

async function listen<S extends http.Server | http2.Http2Server>(server: S): Promise<S> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    // Connections from http2-proxy's keep-alive agent would otherwise hold close() open.
    if ('closeAllConnections' in server) server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return server;
}

/** An h2c-only grpc-js server (the only kind grpc-js has) that counts handler invocations. */
async function startGrpcJsUpstream(): Promise<{ port: number; calls: () => number }> {
  const server = new grpc.Server();
  let calls = 0;
  server.addService(ECHO_SERVICE, {
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      calls++;
      callback(null, call.request);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  cleanups.push(() => server.forceShutdown());
  return { port, calls: () => calls };
}

/**
 * The front proxy exactly as the http2-proxy README shows it for HTTP/2: an http2 server whose 'request' handler
 * calls `proxy.web(req, res, { hostname, port }, callback)`. The callback answers the error's suggested status,
 * as the README's finalhandler would. Resolves `failure` with the first proxy error.
 */
async function startHttp2ProxyFront(upstreamPort: number): Promise<{ port: number; failure: Promise<ProxyFailure> }> {
  let reportFailure!: (err: ProxyFailure) => void;
  const failure = new Promise<ProxyFailure>((resolve) => (reportFailure = resolve));
  const front = http2.createServer();
  front.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    void proxy.web(req, res, { hostname: '127.0.0.1', port: upstreamPort }, (err) => {
      if (!err) return;
      reportFailure(err as ProxyFailure);
      if (!res.headersSent) res.statusCode = (err as ProxyFailure).statusCode ?? 502;
      res.end();
    });
  });
  await listen(front);
  return { port: portOf(front), failure };
}

interface RawReply {
  headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader;
  trailers: http2.IncomingHttpHeaders | undefined;
  body: Buffer;
}

/** Sends one gRPC-framed unary request with raw node:http2 so the test sees every header and trailer. */
async function rawGrpcCall(port: number): Promise<RawReply> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  cleanups.push(() => void session.destroy());
  const stream = session.request({
    ':method': 'POST',
    ':path': '/bench.Echo/Unary',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.end(REQUEST_FRAME);
  return new Promise<RawReply>((resolve, reject) => {
    let headers: RawReply['headers'] | undefined;
    let trailers: RawReply['trailers'];
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('error', reject);
    stream.on('close', () =>
      headers ? resolve({ headers, trailers, body: Buffer.concat(chunks) }) : reject(new Error('no response headers')),
    );
  });
}

function grpcJsCall(port: number): Promise<{ error: grpc.ServiceError | null; reply: Buffer | undefined }> {
  const client = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  cleanups.push(() => client.close());
  return new Promise((resolve) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      '/bench.Echo/Unary',
      identity,
      identity,
      REQUEST_FRAME.subarray(5),
      (error, reply) => resolve({ error, reply }),
    );
  });
}

describe('http2-proxy drops HTTP/2 on the upstream leg (and te: trailers with it), so grpc calls fail', () => {
  it('a grpc-js call through it fails with UNAVAILABLE (HTTP 502) and never reaches the grpc-js server, while the same call direct succeeds', async () => {
    const upstream = await startGrpcJsUpstream();
    const front = await startHttp2ProxyFront(upstream.port);

    // Control: the upstream and client are fine on their own.
    const direct = await grpcJsCall(upstream.port);
    expect(direct.error).toBeNull();
    expect(direct.reply?.toString()).toBe(REQUEST_FRAME.subarray(5).toString());
    expect(upstream.calls()).toBe(1);

    const proxied = await grpcJsCall(front.port);
    expect(proxied.error?.code).toBe(grpc.status.UNAVAILABLE);
    // grpc-js synthesises this status from the HTTP status; no grpc-status ever came back.
    expect(proxied.error?.details).toBe('Received HTTP status code 502');
    expect(upstream.calls()).toBe(1);

    // Why: http2-proxy always upstreams with http.request (HTTP/1.1). The h2c server answers the HTTP/1.1 request
    // line with its HTTP/2 SETTINGS frame, which Node's HTTP/1 parser rejects.
    const failure = await front.failure;
    expect(failure.code).toBe('HPE_INVALID_CONSTANT');
    expect(failure.statusCode).toBe(502);
  });

  it('no grpc-status reaches the client in headers or trailers: the reply is a bare HTTP 502', async () => {
    const upstream = await startGrpcJsUpstream();
    const front = await startHttp2ProxyFront(upstream.port);

    const reply = await rawGrpcCall(front.port);

    expect(reply.headers[':status']).toBe(502);
    expect(reply.headers['grpc-status']).toBeUndefined();
    expect(reply.headers['content-type']).toBeUndefined();
    expect(reply.trailers?.['grpc-status']).toBeUndefined();
    expect(reply.body.length).toBe(0);
  });

  it('a plain node:http2 (h2c) upstream that records requests receives none: no HTTP/2 upstream is reachable', async () => {
    const received: http2.IncomingHttpHeaders[] = [];
    const upstream = http2.createServer((req, res) => {
      received.push(req.headers);
      res.end();
    });
    await listen(upstream);
    const front = await startHttp2ProxyFront(portOf(upstream));

    const reply = await rawGrpcCall(front.port);

    expect(reply.headers[':status']).toBe(502);
    expect((await front.failure).code).toBe('HPE_INVALID_CONSTANT');
    expect(received).toEqual([]);
  });

  it('an HTTP/1 upstream receives the call as HTTP/1.1 with te: trailers removed and :authority replaced', async () => {
    const received: Array<{ httpVersion: string; method: string | undefined; url: string | undefined; headers: http.IncomingHttpHeaders }> = [];
    const upstream = http.createServer((req, res) => {
      received.push({ httpVersion: req.httpVersion, method: req.method, url: req.url, headers: req.headers });
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/grpc' });
        res.addTrailers({ 'grpc-status': '0' });
        res.end(REQUEST_FRAME);
      });
    });
    await listen(upstream);
    const front = await startHttp2ProxyFront(portOf(upstream));

    await rawGrpcCall(front.port);

    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request?.httpVersion).toBe('1.1');
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('/bench.Echo/Unary');
    expect(request?.headers['content-type']).toBe('application/grpc');
    // gRPC requires `te: trailers` on every request (PROTOCOL-HTTP2.md); http2-proxy deletes it as hop-by-hop.
    expect(request?.headers.te).toBeUndefined();
    // The client's :authority (the front's address) is replaced by the upstream's host:port.
    expect(request?.headers.host).toBe(`127.0.0.1:${portOf(upstream)}`);
    expect(request?.headers['transfer-encoding']).toBe('chunked');
  });

  it('does relay chunked HTTP/1.1 trailers as HTTP/2 trailers, so the lost grpc-status comes from the HTTP/1.1 downgrade, not from trailer handling', async () => {
    const upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/grpc' });
        res.write(REQUEST_FRAME);
        res.addTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' });
        res.end();
      });
    });
    await listen(upstream);
    const front = await startHttp2ProxyFront(portOf(upstream));

    const reply = await rawGrpcCall(front.port);

    expect(reply.headers[':status']).toBe(200);
    expect(reply.body.equals(REQUEST_FRAME)).toBe(true);
    expect(reply.trailers).toMatchObject({ 'grpc-status': '0', 'grpc-message': 'ok' });
  });
});
