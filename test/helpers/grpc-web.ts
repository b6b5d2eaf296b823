// SPDX-License-Identifier: Apache-2.0
// A raw gRPC-Web client for protocol tests: sends bytes we choose over HTTP/1.1 (node:http) or HTTP/2 (node:http2)
// and parses the response body into messages and the trailers frame with the codec under test's own rules.

import http from 'node:http';
import http2 from 'node:http2';
import { Base64StreamDecoder, parseFrames, parseTrailers, TRAILER_FLAG, encodeFrame } from '../../src/grpcweb/codec.js';

export interface WebResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly raw: Buffer;
  readonly messages: Buffer[];
  /** The trailers frame, parsed; undefined when the body had none. */
  readonly trailers: Record<string, string> | undefined;
  /** When each response chunk arrived (performance.now()), for streaming assertions. */
  readonly chunkTimes: number[];
  /** HTTP/1.1: the request went on a kept-alive connection that an earlier request used. */
  readonly reusedSocket: boolean;
}

export interface WebRequest {
  readonly path: string;
  /** The request body as sent on the wire (already base64 for -text, unless `message` is used). */
  readonly body?: Buffer | Buffer[];
  /** One message to frame (and base64-encode for -text). */
  readonly message?: Buffer;
  readonly contentType?: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly protocol?: 'http/1.1' | 'h2';
  /** HTTP/1.1 keep-alive agent (to check the connection stays usable). */
  readonly agent?: http.Agent;
  /** Aborts the request (HTTP/1.1: destroys the connection; HTTP/2: RST_STREAM CANCEL). */
  readonly signal?: AbortSignal;
}

/** Frames `message` as a gRPC-Web request body for `contentType`. */
export function requestBody(message: Buffer, contentType = 'application/grpc-web+proto'): Buffer {
  const frame = encodeFrame(0, message);
  return contentType.includes('-text') ? Buffer.from(frame.toString('base64'), 'latin1') : frame;
}

/** Parses a gRPC-Web response body. */
export function parseResponse(raw: Buffer, contentType: string | undefined): { messages: Buffer[]; trailers: Record<string, string> | undefined } {
  let bytes = raw;
  if (contentType?.includes('grpc-web-text')) {
    const d = new Base64StreamDecoder();
    bytes = d.push(raw);
    d.end();
  }
  if (!contentType?.startsWith('application/grpc-web')) return { messages: [], trailers: undefined };
  const messages: Buffer[] = [];
  let trailers: Record<string, string> | undefined;
  for (const f of parseFrames(bytes)) {
    if ((f.flags & TRAILER_FLAG) !== 0) trailers = parseTrailers(f.data);
    else messages.push(f.data);
  }
  return { messages, trailers };
}

/** Sends one request to `address` (host:port) and collects the whole response. */
export function webRequest(address: string, req: WebRequest): Promise<WebResponse> {
  const contentType = req.contentType ?? 'application/grpc-web+proto';
  const chunks = req.body === undefined ? (req.message === undefined ? [] : [requestBody(req.message, contentType)]) : Array.isArray(req.body) ? req.body : [req.body];
  const headers: Record<string, string> = { 'content-type': contentType, 'x-grpc-web': '1', ...req.headers };
  if (req.contentType === '') delete headers['content-type'];
  const [host, port] = address.split(':') as [string, string];
  const chunkTimes: number[] = [];
  let reusedSocket = false;
  const finish = (status: number, h: Record<string, string | string[] | undefined>, raw: Buffer): WebResponse => {
    const ct = h['content-type'] as string | undefined;
    return { status, headers: h, raw, chunkTimes, reusedSocket, ...parseResponse(raw, ct) };
  };
  if (req.protocol === 'h2') {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`http://${address}`);
      session.on('error', reject);
      const stream = session.request({ ':method': req.method ?? 'POST', ':path': req.path, ...headers }, req.signal ? { signal: req.signal } : {});
      const body: Buffer[] = [];
      let status = 0;
      let rh: Record<string, string | string[] | undefined> = {};
      stream.on('response', (h) => {
        status = Number(h[':status']);
        rh = h as typeof rh;
      });
      stream.on('data', (c: Buffer) => {
        chunkTimes.push(performance.now());
        body.push(c);
      });
      stream.on('end', () => {
        session.close();
        resolve(finish(status, rh, Buffer.concat(body)));
      });
      stream.on('error', (err) => {
        session.close();
        reject(err);
      });
      for (const c of chunks) stream.write(c);
      stream.end();
    });
  }
  return new Promise((resolve, reject) => {
    const r = http.request({ host, port: Number(port), method: req.method ?? 'POST', path: req.path, headers, agent: req.agent ?? false, ...(req.signal ? { signal: req.signal } : {}) }, (res) => {
      reusedSocket = r.reusedSocket;
      const body: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        chunkTimes.push(performance.now());
        body.push(c);
      });
      res.on('end', () => resolve(finish(res.statusCode ?? 0, res.headers as Record<string, string>, Buffer.concat(body))));
      res.on('error', reject);
    });
    r.on('error', reject);
    for (const c of chunks) r.write(c);
    r.end();
  });
}
