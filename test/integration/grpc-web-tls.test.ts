// SPDX-License-Identifier: Apache-2.0
// gRPC-Web on a TLS listener (quick mode's --tls-cert/--tls-key with --grpc-web-origin): HTTP/1.1 by ALPN
// `http/1.1` and HTTP/2 by ALPN `h2` on the same port, next to native gRPC over TLS.

import http2 from 'node:http2';
import https from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadQuickTls } from '../../src/tls/quick-flags.js';
import { echoClient, startEcho, unary, type EchoServer } from '../helpers/echo.js';
import { parseResponse, requestBody } from '../helpers/grpc-web.js';
import { startSidecar, type Sidecar } from '../helpers/sidecar.js';
import { usePki } from '../helpers/test-pki.js';

const pki = usePki();
const root = pki.ca('root');
const leaf = pki.leaf(root, 'web', { extraSans: ['IP:127.0.0.1', 'DNS:localhost'] });
let echo: EchoServer;
let sc: Sidecar;
let port: number;

beforeAll(async () => {
  echo = await startEcho();
  const tls = loadQuickTls({ 'tls-cert': leaf.certFile, 'tls-key': leaf.keyFile }, { http1: true });
  if (!tls.ok) throw new Error(tls.errors.join('; '));
  sc = await startSidecar(
    { service: { name: 'web' }, inbound: { listen: '127.0.0.1:0', app: echo.address, grpcWeb: {} } },
    { level: 'silent', tls: { inboundTls: tls.tls.listener } },
  );
  port = Number((sc.inbound as string).split(':')[1]);
});

afterAll(async () => {
  await sc?.close();
  await echo?.close();
});

const CT = 'application/grpc-web+proto';

describe('gRPC-Web over TLS', () => {
  it('serves HTTP/1.1 to a client that negotiates ALPN http/1.1', async () => {
    const { status, alpn, body, ct } = await new Promise<{ status: number; alpn: unknown; body: Buffer; ct: string | undefined }>((resolve, reject) => {
      // node's https passes TLS options (ALPNProtocols) through to tls.connect; its RequestOptions type omits them.
      const options: https.RequestOptions & { ALPNProtocols: string[] } = {
        host: '127.0.0.1', port, method: 'POST', path: '/test.Echo/Unary', ca: root.certPem, ALPNProtocols: ['http/1.1'], headers: { 'content-type': CT }, agent: false,
      };
      const req = https.request(
        options,
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, alpn: (res.socket as import('node:tls').TLSSocket).alpnProtocol, body: Buffer.concat(chunks), ct: res.headers['content-type'] }));
        },
      );
      req.on('error', reject);
      req.end(requestBody(Buffer.from('tls h1'), CT));
    });
    expect(status).toBe(200);
    expect(alpn).toBe('http/1.1');
    const r = parseResponse(body, ct);
    expect(r.messages.map(String)).toEqual(['tls h1']);
    expect(r.trailers?.['grpc-status']).toBe('0');
  });

  it('serves HTTP/2 to a client that negotiates h2 (as browsers do)', async () => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: root.certPem });
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/test.Echo/Unary', 'content-type': CT });
      const chunks: Buffer[] = [];
      let ct: string | undefined;
      stream.on('response', (h) => (ct = h['content-type'] as string));
      stream.on('data', (c: Buffer) => chunks.push(c));
      const ended = new Promise<void>((resolve, reject) => {
        stream.on('end', resolve);
        stream.on('error', reject);
      });
      stream.end(requestBody(Buffer.from('tls h2'), CT));
      await ended;
      expect(session.alpnProtocol).toBe('h2');
      const r = parseResponse(Buffer.concat(chunks), ct);
      expect(r.messages.map(String)).toEqual(['tls h2']);
    } finally {
      session.close();
    }
  });

  it('still serves native gRPC over TLS on the same port', async () => {
    const c = echoClient(sc.inbound as string, undefined, { 'grpc.ssl_target_name_override': 'localhost' }, grpc.credentials.createSsl(Buffer.from(root.certPem)));
    try {
      const r = await unary(c, Buffer.from('native'));
      expect(r.response?.toString()).toBe('native');
    } finally {
      c.close();
    }
  });
});
