// SPDX-License-Identifier: Apache-2.0
// The health reads' HTTP/1.1 client: response framing (chunked, Content-Length, until close) read right however
// the bytes split, bad framing rejected, and connections reused (and re-opened once when a reused one is gone).
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttp1Pool, createResponseParser, Http1Error } from '../../../../src/discovery/consul/http1-get.js';

function parse(raw: string, split: number): { status: number; headers: Record<string, string>; body: string; done: boolean } {
  let status = 0;
  let headers: Record<string, string> = {};
  const body: Buffer[] = [];
  const p = createResponseParser({
    head: (s, h) => {
      status = s;
      headers = { ...h };
    },
    body: (piece) => body.push(Buffer.from(piece)),
  });
  const buf = Buffer.from(raw, 'latin1');
  let done = false;
  for (let i = 0; i < buf.length && !done; i += split) done = p.push(buf, i, Math.min(buf.length, i + split));
  return { status, headers, body: Buffer.concat(body).toString('latin1'), done };
}

describe('createResponseParser', () => {
  const chunked =
    'HTTP/1.1 100 Continue\r\n\r\n' +
    'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Consul-Index: 42\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '5;ext=1\r\n[{"a"\r\n' +
    'A\r\n:"\r\n\r\n}]xx\r\n' +
    '0\r\nTrailer: t\r\n\r\n';

  it('de-chunks a chunked body and skips an interim head, however the bytes are split', () => {
    for (const split of [1, 2, 3, 7, chunked.length]) {
      expect(parse(chunked, split)).toEqual({
        status: 200,
        headers: { 'content-type': 'application/json', 'x-consul-index': '42', 'transfer-encoding': 'chunked' },
        body: '[{"a":"\r\n\r\n}]xx',
        done: true,
      });
    }
  });

  it('reads a Content-Length body and ignores what follows it', () => {
    expect(parse('HTTP/1.1 500 Internal\r\nContent-Length: 4\r\n\r\noopsEXTRA', 3)).toMatchObject({ status: 500, body: 'oops', done: true });
  });

  it('reads a body without length until the connection closes, and does not keep the connection', () => {
    const p = createResponseParser({ head: () => {}, body: () => {} });
    const buf = Buffer.from('HTTP/1.0 200 OK\r\n\r\n[]');
    expect(p.push(buf, 0, buf.length)).toBe(false);
    expect(p.keepAlive).toBe(false);
    expect(p.closed()).toBe(true);
  });

  it.each([
    ['SSH-2.0-OpenSSH\r\n\r\n', /status line/],
    ['HTTP/1.1 200 OK\r\nbroken\r\n\r\n', /header line/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /chunk size/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n', /CRLF after chunk/],
  ])('rejects a malformed response %j', (raw, message) => {
    expect(() => parse(raw, 4)).toThrow(message);
  });
});

describe('createHttp1Pool', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    server = undefined;
  });

  /** A server answering each request on a connection with `answers(n)`, n counting from 0 over all connections. */
  async function serve(answer: (n: number) => { text: string; close?: boolean }): Promise<{ port: number; connections: () => number }> {
    let n = 0;
    let connections = 0;
    server = createServer((socket) => {
      connections += 1;
      let pending = '';
      socket.on('data', (d) => {
        pending += d.toString('latin1');
        while (pending.includes('\r\n\r\n')) {
          pending = pending.slice(pending.indexOf('\r\n\r\n') + 4);
          const a = answer(n++);
          if (a.close) socket.end(a.text);
          else socket.write(a.text);
        }
      });
      socket.on('error', () => {});
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return { port: address.port, connections: () => connections };
  }

  const get = async (pool: ReturnType<typeof createHttp1Pool>): Promise<string> => {
    const body: Buffer[] = [];
    await pool.get('/v1/x', { accept: 'application/json' }, { head: () => {}, body: (p) => body.push(Buffer.from(p)), end: () => {} }, { timeoutMs: 5000 });
    return Buffer.concat(body).toString();
  };

  it('reuses a kept-alive connection, and sends again on a new one when a reused connection was closed', async () => {
    const ok = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const s = await serve((n) => (n === 1 ? { text: ok('second'), close: true } : { text: ok(`r${n}`) }));
    const pool = createHttp1Pool({ secure: false, host: '127.0.0.1', port: s.port, readBufferBytes: 16 });
    expect(await get(pool)).toBe('r0');
    expect(await get(pool)).toBe('second'); // same connection, which the server then closes
    expect(s.connections()).toBe(1);
    // Sent on the idle connection first if its close has not been seen yet (the request is then lost, like
    // the answer), then once more on a new connection.
    expect(await get(pool)).toMatch(/^r[23]$/);
    expect(s.connections()).toBe(2);
    pool.close();
  });

  it('refuses a header value that would split the request, and sends nothing', async () => {
    const s = await serve(() => ({ text: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n' }));
    const pool = createHttp1Pool({ secure: false, host: '127.0.0.1', port: s.port });
    const sink = { head: () => {}, body: () => {}, end: () => {} };
    await expect(pool.get('/v1/x', { 'x-consul-token': 'a\r\nX-Evil: 1' }, sink, { timeoutMs: 5000 })).rejects.toThrow(/invalid character/);
    expect(s.connections()).toBe(0);
    pool.close();
  });

  it('rejects a body cut short as a failure after the head', async () => {
    const s = await serve(() => ({ text: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[{"a":', close: true }));
    const pool = createHttp1Pool({ secure: false, host: '127.0.0.1', port: s.port });
    const err = await get(pool).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Http1Error);
    expect((err as Http1Error).afterHead).toBe(true);
    pool.close();
  });
});
