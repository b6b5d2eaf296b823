// SPDX-License-Identifier: Apache-2.0
// The client side of the engine respects the peer's SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §5.1.2): streams over
// the limit wait locally, with their bodies, and go out as others close; none is refused by the peer.

import { once } from 'node:events';
import type http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import type { H2Stream } from '../../../src/h2/stream.js';
import { connectEngine, readAll, startNodeServer, Tracker } from '../../helpers/h2-peers.js';

const t = new Tracker();
afterEach(() => t.closeAll());

const REQUEST = { ':method': 'POST', ':scheme': 'http', ':authority': 'x', ':path': '/a.B/C' };

describe('client streams over the peer MAX_CONCURRENT_STREAMS', () => {
  it('wait locally and all complete, never more than the limit open at the peer', async () => {
    let open = 0;
    let peak = 0;
    const held: http2.ServerHttp2Stream[] = [];
    const { port } = await startNodeServer(
      t,
      (stream) => {
        open++;
        peak = Math.max(peak, open);
        stream.on('close', () => open--);
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          held.push(stream);
          // Answer only once two are held, so the limit is really reached.
          if (held.length >= 2 || open === 1) {
            for (const s of held.splice(0)) {
              s.respond({ ':status': 200 });
              s.end('ok');
            }
          }
        });
      },
      { settings: { maxConcurrentStreams: 2 } },
    );
    const conn = await connectEngine(t, port);
    expect(conn.remoteSettings.maxConcurrentStreams).toBe(2);
    const streams: H2Stream[] = [];
    for (let i = 0; i < 6; i++) {
      const s = conn.request(REQUEST);
      s.end(Buffer.from(`body ${i}`));
      streams.push(s);
    }
    expect(streams.filter((s) => s.id === 0)).toHaveLength(4);
    const bodies = await Promise.all(streams.map((s) => readAll(s)));
    expect(bodies.map(String)).toEqual(Array(6).fill('ok'));
    await Promise.all(streams.map((s) => (s.closed ? undefined : once(s, 'close'))));
    expect(streams.map((s) => s.rstCode)).toEqual(Array(6).fill(0));
    expect(peak).toBe(2);
  });

  it('a waiting stream that is reset never reaches the wire', async () => {
    const paths: string[] = [];
    const arrivals: Array<(s: http2.ServerHttp2Stream) => void> = [];
    const arrived: http2.ServerHttp2Stream[] = [];
    const nextArrival = (): Promise<http2.ServerHttp2Stream> =>
      arrived.length > 0 ? Promise.resolve(arrived.shift() as http2.ServerHttp2Stream) : new Promise((r) => arrivals.push(r));
    const { port } = await startNodeServer(
      t,
      (stream, headers) => {
        paths.push(headers[':path'] as string);
        stream.resume();
        const waiter = arrivals.shift();
        if (waiter) waiter(stream);
        else arrived.push(stream);
      },
      { settings: { maxConcurrentStreams: 1 } },
    );
    const conn = await connectEngine(t, port);
    const first = conn.request({ ...REQUEST, ':path': '/a.B/first' });
    first.end();
    const second = conn.request({ ...REQUEST, ':path': '/a.B/second' });
    second.end();
    expect(second.id).toBe(0);
    second.close(8);
    expect(second.closed).toBe(true);
    const third = conn.request({ ...REQUEST, ':path': '/a.B/third' });
    third.end();
    (await nextArrival()).respond({ ':status': 200 }, { endStream: true });
    first.resume();
    await once(first, 'close');
    (await nextArrival()).respond({ ':status': 200 }, { endStream: true });
    third.resume();
    await once(third, 'close');
    expect(paths).toEqual(['/a.B/first', '/a.B/third']);
    expect(third.rstCode).toBe(0);
  });
});
