// SPDX-License-Identifier: Apache-2.0
// RFC 7541 §7.1.3: a field a client sends "never indexed" (node's http2.sensitiveHeaders) reaches the server
// behind meshlet's engine still never-indexed, and a field sent normally does not become never-indexed.

import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { H2Connection } from '../../../src/h2/connection.js';
import { HpackDecoder } from '../../../src/h2/hpack/decoder.js';
import type { H2Stream } from '../../../src/h2/stream.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('never-indexed header fields', () => {
  it('the decoder reports the names of never-indexed literals (RFC 7541 C.2.3)', () => {
    // C.2.3: "password: secret" as a never-indexed literal with a literal name.
    const block = Buffer.from('100870617373776f726406736563726574', 'hex');
    const out: string[] = [];
    const never: string[] = [];
    new HpackDecoder().decode(block, 0, block.length, out, never);
    expect(out).toEqual(['password', 'secret']);
    expect(never).toEqual(['password']);
  });

  it('a relay on the engine forwards them never-indexed, and only them', async () => {
    // node:http2 upstream server: records which incoming headers arrived never-indexed.
    const seen: Array<string[] | undefined> = [];
    const upstream = http2.createServer();
    upstream.on('stream', (stream, headers) => {
      seen.push((headers as Record<symbol, string[] | undefined>)[http2.sensitiveHeaders]);
      stream.respond({ ':status': 200 }, { endStream: true });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => upstream.close(() => r())));
    const upSocket = net.connect({ host: '127.0.0.1', port: (upstream.address() as net.AddressInfo).port });
    const upConn = new H2Connection(upSocket, { role: 'client' });
    cleanups.push(() => upConn.destroy());
    await new Promise((r) => upConn.once('remoteSettings', r));

    // The relay: meshlet's server engine downstream, its client engine upstream, headers passed as received.
    const relay = net.createServer((socket) => {
      const conn = new H2Connection(socket, { role: 'server' });
      conn.on('stream', (down: H2Stream, headers: http2.IncomingHttpHeaders) => {
        const up = upConn.request(headers);
        up.end();
        up.on('response', (h: http2.OutgoingHttpHeaders) => down.respond(h, true));
      });
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => relay.close(() => r())));
    const client = http2.connect(`http://127.0.0.1:${(relay.address() as net.AddressInfo).port}`);
    cleanups.push(() => void client.destroy());

    const call = (headers: http2.OutgoingHttpHeaders) =>
      new Promise<void>((resolve, reject) => {
        const req = client.request({ ':method': 'POST', ':path': '/a.B/C', ...headers });
        req.on('error', reject);
        req.on('close', () => resolve());
        req.resume();
        req.end();
      });
    await call({ 'x-api-key': 's3cret', [http2.sensitiveHeaders]: ['x-api-key'] });
    await call({ 'x-api-key': 's3cret' });
    expect(seen[0]).toContain('x-api-key');
    expect(seen[1] ?? []).not.toContain('x-api-key');
  });
});
