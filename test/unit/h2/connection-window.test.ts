// SPDX-License-Identifier: Apache-2.0
// The connection receive window bounds what all streams of a connection hold unread: it is credited back as DATA
// is read, not as it arrives. A peer opening many streams against a reader that does not read is stopped at the
// connection window (16 MiB by default), not at streams × 1 MiB; once the reader reads, everything flows.

import type http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import type { H2Stream } from '../../../src/h2/stream.js';
import { connectNode, startEngineServer, Tracker } from '../../helpers/h2-peers.js';
import { waitUntil } from '../../helpers/wait.js';

const t = new Tracker();
afterEach(() => t.closeAll());

const MiB = 1 << 20;

describe('connection-level flow control', () => {
  it('40 streams of 1 MiB against a reader that does not read stop at the 4 MiB connection window, then all arrive', async () => {
    const held: H2Stream[] = [];
    const { port } = await startEngineServer(t, (stream) => held.push(stream), { connectionWindowBytes: 4 * MiB });
    const client = await connectNode(t, port);
    const streams: http2.ClientHttp2Stream[] = [];
    for (let i = 0; i < 40; i++) {
      const s = client.request({ ':method': 'POST', ':path': `/a.B/C${i}` });
      s.on('error', () => {});
      s.end(Buffer.alloc(MiB, i));
      streams.push(s);
    }
    // The client can send no more once our connection window is used up; nothing on our side read a byte yet.
    // PING round trips are barriers (we answer in frame order): wait until what the client holds back is stable.
    await waitUntil(() => held.length === 40, 'all streams opened');
    const unsent = () => streams.reduce((n, s) => n + s.bufferSize, 0);
    let last = -1;
    for (let i = 0; i < 200 && unsent() !== last; i++) {
      last = unsent();
      await new Promise<void>((resolve, reject) => client.ping((err) => (err ? reject(err) : resolve())));
    }
    expect(client.state.remoteWindowSize).toBe(0);
    expect(unsent()).toBeGreaterThanOrEqual(40 * MiB - 4 * MiB);

    // Reading frees the window: every byte of every stream arrives.
    const received = await Promise.all(
      held.map(
        (s) =>
          new Promise<number>((resolve) => {
            let n = 0;
            s.on('data', (c: Buffer) => (n += c.length));
            s.on('end', () => {
              s.respond({ ':status': 200 }, true);
              resolve(n);
            });
          }),
      ),
    );
    expect(received).toEqual(Array(40).fill(MiB));
  });
});
