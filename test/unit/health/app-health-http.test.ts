// SPDX-License-Identifier: Apache-2.0
// App health over HTTP/1.1 (health.appCheck: http): 2xx is serving, anything else or no answer is not.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createAppHealth, httpCheck } from '../../../src/health/app-health.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** An app whose /healthz answers `status` (changeable); records the paths it was asked for. */
async function app(initial: number): Promise<{ address: string; paths: string[]; set(code: number): void }> {
  let code = initial;
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(req.url === '/healthz' ? code : 404).end();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, paths, set: (c) => (code = c) };
}

describe('app health (http)', () => {
  it('2xx is healthy; other statuses and wrong paths are not, with a reason', async () => {
    const a = await app(204);
    expect(await httpCheck(a.address, '/healthz', 1000)).toBeUndefined();
    a.set(503);
    expect(await httpCheck(a.address, '/healthz', 1000)).toMatch(/answered HTTP 503/);
    expect(await httpCheck(a.address, '/ready', 1000)).toMatch(/answered HTTP 404/);
  });

  it('an app that is not listening is unhealthy', async () => {
    const a = await app(200);
    const address = a.address;
    const s = servers.pop() as http.Server;
    await new Promise((r) => s.close(r));
    expect(await httpCheck(address, '/healthz', 1000)).toMatch(/ECONNREFUSED/);
  });

  it('drives the monitor: SERVING while 2xx, NOT_SERVING after a failure', async () => {
    const a = await app(200);
    const h = createAppHealth({
      mode: 'http',
      address: '127.0.0.1:1', // the gRPC port is not what an http check asks
      http: { address: a.address, path: '/healthz' },
      grpcCheck: () => Promise.reject(new Error('not used in http mode')),
      intervalMs: 60_000,
      timeoutMs: 1000,
      log: pino({ level: 'silent' }),
    });
    await h.demand();
    expect(h.status()).toBe('SERVING');
    a.set(500);
    expect(await h.checkNow()).toBe('NOT_SERVING');
    expect(h.lastError).toMatch(/HTTP 500/);
    expect(a.paths.every((p) => p === '/healthz')).toBe(true);
    h.stop();
  });
});
