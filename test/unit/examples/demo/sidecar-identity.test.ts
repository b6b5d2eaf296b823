// SPDX-License-Identifier: Apache-2.0
// The demo's identity line: read from a sidecar admin's /certs document, printed with the time its leaf has left.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { formatIdentity, sidecarIdentity } from '../../../../examples/demo/readiness.js';

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** An admin double answering GET /certs with `status` and `body`. */
async function admin(status: number, body: unknown): Promise<string> {
  server = createServer((req, res) => {
    if (req.url !== '/certs') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('sidecarIdentity', () => {
  it('reads the SPIFFE ID and the time left from /certs', async () => {
    const url = await admin(200, { source: 'ca', identity: 'spiffe://demo.meshlet/svc/user-service', expiresInSeconds: 86_340, chain: [] });
    expect(await sidecarIdentity(url)).toEqual({ identity: 'spiffe://demo.meshlet/svc/user-service', expiresInSeconds: 86_340 });
  });

  it('rejects with the status and the reason while the sidecar has no certificate', async () => {
    const url = await admin(503, { source: 'ca', error: 'no certificate loaded yet' });
    await expect(sidecarIdentity(url)).rejects.toThrow('/certs answered 503: no certificate loaded yet');
  });
});

describe('formatIdentity', () => {
  const id = 'spiffe://demo.meshlet/svc/user-service';

  it('prints hours and minutes left for a day-long leaf', () => {
    expect(formatIdentity('user-service sidecar', { identity: id, expiresInSeconds: 86_399 })).toBe(
      `user-service sidecar   ${id}  (cert expires in 23h59m)`,
    );
  });

  it('prints minutes and seconds under an hour, and says when it expired', () => {
    expect(formatIdentity('x', { identity: id, expiresInSeconds: 125 })).toMatch(/\(cert expires in 2m05s\)$/);
    expect(formatIdentity('x', { identity: id, expiresInSeconds: -1 })).toMatch(/\(cert expired\)$/);
  });
});
