// SPDX-License-Identifier: Apache-2.0
// GET /certs (src/admin/routes/certs.ts): the chain and bundle of the current generation, time left, never the key.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { certsRoute } from '../../../../src/admin/routes/certs.js';
import { initCa } from '../../../../src/tls/ca.js';
import { createCaSource } from '../../../../src/tls/sources/ca.js';
import type { CertSource } from '../../../../src/tls/material.js';
import { createManualClock } from '../../../helpers/manual-clock.js';
import { captureLogger } from '../../../helpers/tls.js';

const T0 = Date.UTC(2032, 0, 1);
let dir: string;
let source: CertSource | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshlet-certs-route-'));
});
afterEach(() => {
  source?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('GET /certs', () => {
  it('answers 503 before the first certificate, then the chain, bundle and time left, never the key', async () => {
    await initCa({ dir, trustDomain: 'mesh.test', intermediate: true, now: () => T0 });
    const clock = createManualClock(T0);
    source = createCaSource({ dir, spiffeId: 'spiffe://mesh.test/svc/a', leafTtlMs: 3_600_000, clock, log: captureLogger().log });
    const handler = certsRoute(source, () => T0 + 600_000);
    expect(handler()).toEqual({ status: 503, body: { source: 'ca', error: 'no certificate loaded yet' } });

    const m = await source.start();
    const res = handler();
    expect(res.status).toBe(200);
    const body = res.body as Record<string, unknown>;
    expect(body).toMatchObject({
      source: 'ca',
      identity: 'spiffe://mesh.test/svc/a',
      generation: 1,
      notBefore: new Date(T0 - 60_000).toISOString(),
      notAfter: new Date(T0 + 3_600_000).toISOString(),
      expiresInSeconds: 3000,
    });
    const chain = body.chain as Array<Record<string, unknown>>;
    expect(chain).toHaveLength(2);
    expect(chain[0]).toMatchObject({ subject: '', uriSANs: ['spiffe://mesh.test/svc/a'], notAfter: m.notAfter.toISOString() });
    expect(chain[0]!.issuer).toMatch(/^O=meshlet, CN=meshlet intermediate CA /);
    expect(chain[0]!.serial).toMatch(/^[0-9A-F]+$/);
    expect(chain[1]).toMatchObject({ uriSANs: ['spiffe://mesh.test'] });
    expect(body.trustBundle).toEqual([{ subject: expect.stringMatching(/^O=meshlet, CN=meshlet root CA /), notAfter: expect.any(String) }]);
    const json = JSON.stringify(body);
    expect(json).not.toContain('PRIVATE KEY');
    expect(json).not.toContain(m.keyPem.split('\n')[1]!);
  });
});
