// SPDX-License-Identifier: Apache-2.0
// The `http2` config section reaches the wire: a sidecar's listener advertises the configured window, stream limit
// and header list size in its SETTINGS.

import { once } from 'node:events';
import http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { startEcho } from '../helpers/echo.js';
import { startSidecar } from '../helpers/sidecar.js';

const defer = useCleanup();

describe('http2 settings from the config', () => {
  it('are advertised by the listener', async () => {
    const echo = await startEcho();
    defer(() => echo.close());
    const s = await startSidecar({
      service: { name: 'echo' },
      inbound: { listen: '127.0.0.1:0', app: echo.address },
      http2: { streamWindowBytes: 262_144, maxConcurrentStreams: 2, maxHeaderListBytes: 8192 },
    });
    defer(() => s.close());
    const client = http2.connect(`http://${s.inbound}`);
    client.on('error', () => {});
    defer(() => client.destroy());
    const [settings] = (await once(client, 'remoteSettings')) as [http2.Settings];
    expect(settings).toMatchObject({ initialWindowSize: 262_144, maxConcurrentStreams: 2, maxHeaderListSize: 8192 });

    // (Enforcement with REFUSED_STREAM is the engine's, tested in test/unit/h2/connection.test.ts; node's
    // client honours the limit, so it cannot show it here.)
    const req = client.request({ ':method': 'POST', ':path': '/test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers' });
    req.end(Buffer.from([0, 0, 0, 0, 0]));
    req.resume();
    const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
    expect(headers[':status']).toBe(200);
  });
});
