// SPDX-License-Identifier: Apache-2.0
// How a response that ends without trailers comes through the sidecar (issue #14): a plain HTTP response that ends
// cleanly with END_STREAM on its body is relayed as the clean ending it was; a gRPC response that does so has lost
// its status and ends with INTERNAL "server closed the stream without sending trailers" (grpc-go's words) and
// x-meshlet-error ERR_UPSTREAM_NO_TRAILERS.

import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { startSidecar } from '../helpers/sidecar.js';

const defer = useCleanup();

/** An app that answers every request with `contentType` and a 3-byte body ended by END_STREAM, no trailers. */
async function appWithoutTrailers(contentType: string): Promise<string> {
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.resume();
    stream.respond({ ':status': 200, 'content-type': contentType });
    stream.end(Buffer.from('abc'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function callThroughSidecar(app: string): Promise<{ headers: http2.IncomingHttpHeaders; body: Buffer; trailers: http2.IncomingHttpHeaders | undefined; rstCode: number | undefined; logs: Array<Record<string, unknown>> }> {
  const s = await startSidecar({ service: { name: 'app' }, inbound: { listen: '127.0.0.1:0', app } });
  defer(() => s.close());
  const client = http2.connect(`http://${s.inbound}`);
  client.on('error', () => {});
  defer(() => client.destroy());
  const req = client.request({ ':method': 'POST', ':path': '/pkg.Svc/Method', 'content-type': 'application/grpc', te: 'trailers' });
  req.end(Buffer.from([0, 0, 0, 0, 0]));
  let trailers: http2.IncomingHttpHeaders | undefined;
  req.on('trailers', (t) => {
    trailers = t;
  });
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
  await once(req, 'close');
  return { headers, body: Buffer.concat(chunks), trailers, rstCode: req.rstCode, logs: s.logs };
}

describe('responses that end without trailers', () => {
  it('a non-gRPC response ending with END_STREAM passes through as a clean ending, body and all', async () => {
    const app = await appWithoutTrailers('text/plain');
    const got = await callThroughSidecar(app);
    expect(got.headers[':status']).toBe(200);
    expect(got.headers['content-type']).toBe('text/plain');
    expect(got.body.toString()).toBe('abc');
    expect(got.trailers).toBeUndefined();
    expect(got.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
  });

  it('a gRPC response ending without trailers is INTERNAL "server closed the stream without sending trailers", ERR_UPSTREAM_NO_TRAILERS', async () => {
    const app = await appWithoutTrailers('application/grpc');
    const got = await callThroughSidecar(app);
    expect(got.body.toString()).toBe('abc');
    expect(got.trailers?.['grpc-status']).toBe('13');
    expect(got.trailers?.['x-meshlet-error']).toBe('ERR_UPSTREAM_NO_TRAILERS');
    // Inbound, the wire carries only status and code (docs/errors.md); the access log has grpc-go's message.
    expect(decodeURIComponent(String(got.trailers?.['grpc-message']))).toBe('meshlet: internal (ERR_UPSTREAM_NO_TRAILERS)');
    expect(JSON.stringify(got.logs)).toContain('server closed the stream without sending trailers');
  });
});
