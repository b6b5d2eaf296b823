// SPDX-License-Identifier: Apache-2.0
// The downstream idle timeout (issue #14): a connection with no stream open for http2.idleTimeoutMs gets GOAWAY
// NO_ERROR and is closed; one with a stream open is kept, however long the stream lasts.

import { once } from 'node:events';
import http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { startEcho } from '../helpers/echo.js';
import { startSidecar } from '../helpers/sidecar.js';

const defer = useCleanup();
const IDLE_MS = 300;

function connect(address: string): http2.ClientHttp2Session {
  const client = http2.connect(`http://${address}`);
  client.on('error', () => {});
  defer(() => client.destroy());
  return client;
}

function request(client: http2.ClientHttp2Session): http2.ClientHttp2Stream {
  const req = client.request({ ':method': 'POST', ':path': '/test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers' });
  req.on('error', () => {});
  req.resume();
  return req;
}

describe('downstream idle timeout', () => {
  it('closes a connection idle for idleTimeoutMs with GOAWAY NO_ERROR, and keeps one with a stream open', async () => {
    const echo = await startEcho();
    defer(() => echo.close());
    const s = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: echo.address }, http2: { idleTimeoutMs: IDLE_MS } });
    defer(() => s.close());

    const idle = connect(s.inbound as string);
    const call = request(idle);
    call.end(Buffer.from([0, 0, 0, 0, 0]));
    await once(call, 'close');
    const idleSince = performance.now();

    const busy = connect(s.inbound as string);
    const open = request(busy);
    open.write(Buffer.from([0, 0, 0, 0, 0])); // the request never ends while the idle connection times out
    let busyGoaway = false;
    busy.on('goaway', () => (busyGoaway = true));

    const [code] = (await once(idle, 'goaway')) as [number];
    const idleMs = performance.now() - idleSince;
    expect(code).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(idleMs).toBeGreaterThanOrEqual(IDLE_MS - 5);
    await once(idle, 'close');

    expect(busyGoaway).toBe(false);
    expect(busy.closed || busy.destroyed).toBe(false);
    open.end();
    await once(open, 'close');
  });
});
