// SPDX-License-Identifier: Apache-2.0
// The demo's "can the sidecar route to this backend yet" probe over the sidecar admin's /clusters document.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { upstreamReady } from '../../../../examples/demo/readiness.js';

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** An admin double answering GET /clusters with `status` and `body`. */
async function admin(status: number, body: string): Promise<string> {
  server = createServer((req, res) => {
    if (req.url !== '/clusters') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const clusters = (endpoints: Array<{ ready: boolean }>): string =>
  JSON.stringify({ upstreams: [{ name: 'other', endpoints: [{ ready: true }] }, { name: 'user-service', endpoints }] });

describe('upstreamReady', () => {
  it('is true when the backend has a ready endpoint', async () => {
    const url = await admin(200, clusters([{ ready: false }, { ready: true }]));
    expect(await upstreamReady(url, 'user-service')).toBe(true);
  });

  it('is false while the backend has no endpoint, or none ready', async () => {
    expect(await upstreamReady(await admin(200, clusters([])), 'user-service')).toBe(false);
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    expect(await upstreamReady(await admin(200, clusters([{ ready: false }])), 'user-service')).toBe(false);
  });

  it('is false when the backend is not listed, another backend being ready notwithstanding', async () => {
    expect(await upstreamReady(await admin(200, clusters([{ ready: true }])), 'billing')).toBe(false);
  });

  it('is false on an error status, a body that is not JSON, or no listener', async () => {
    expect(await upstreamReady(await admin(503, clusters([{ ready: true }])), 'user-service')).toBe(false);
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    const url = await admin(200, 'not json');
    expect(await upstreamReady(url, 'user-service')).toBe(false);
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    expect(await upstreamReady(url, 'user-service')).toBe(false);
  });
});
