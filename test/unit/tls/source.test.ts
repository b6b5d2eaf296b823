// SPDX-License-Identifier: Apache-2.0
// createCertSource (src/tls/source.ts): the bootstrap's mtls.source picks the source; the ca source issues for the
// derived identity; impossible choices fail naming the config path.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mtlsSchema, type MtlsConfig } from '../../../src/config/mtls-schema.js';
import { createConsulClient } from '../../../src/discovery/consul/client.js';
import { initCa } from '../../../src/tls/ca.js';
import type { CertSource } from '../../../src/tls/material.js';
import { createCertSource } from '../../../src/tls/source.js';
import { captureLogger, materialPaths, writeMaterial } from '../../helpers/tls.js';

let dir: string;
const opened: CertSource[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshlet-source-'));
});
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

const mtls = (doc: unknown): MtlsConfig => mtlsSchema.parse(doc);
const log = captureLogger().log;
const build = (m: MtlsConfig, deps: Partial<Parameters<typeof createCertSource>[1]> = {}): CertSource => {
  const s = createCertSource(m, { log, ...deps });
  opened.push(s);
  return s;
};

describe('createCertSource', () => {
  it('files: loads the configured files', async () => {
    const ca = await initCa({ dir: join(dir, 'ca'), trustDomain: 'mesh.test' });
    await writeMaterial(ca, dir, { spiffeId: 'spiffe://mesh.test/svc/a' });
    const s = build(mtls({ trustDomain: 'mesh.test', source: { files: materialPaths(dir) } }));
    expect(s.kind).toBe('files');
    expect((await s.start()).identity).toBe('spiffe://mesh.test/svc/a');
  });

  it.each([
    ['Kubernetes identity from env', { kubernetes: undefined }, { MESHLET_POD_NAMESPACE: 'shop', MESHLET_SERVICE_ACCOUNT: 'web' }, 'spiffe://mesh.test/ns/shop/sa/web'],
    ['service identity', {}, {}, 'spiffe://mesh.test/svc/orders'],
    ['explicit identity', { identity: 'spiffe://mesh.test/custom/x' }, {}, 'spiffe://mesh.test/custom/x'],
  ])('ca: issues for the derived identity (%s)', async (_name, extra, env, expected) => {
    await initCa({ dir: join(dir, 'ca'), trustDomain: 'mesh.test' });
    const s = build(mtls({ trustDomain: 'mesh.test', ...extra, source: { ca: { dir: join(dir, 'ca') } } }), { serviceName: 'orders', env });
    expect(s.kind).toBe('ca');
    expect((await s.start()).identity).toBe(expected);
  });

  it('ca: fails naming mtls.source.ca when no identity can be derived', () => {
    expect(() => build(mtls({ source: { ca: { dir } } }))).toThrow("mtls.source.ca: cannot derive this sidecar's SPIFFE ID");
  });

  it('consul: needs a Consul client and a service name', () => {
    const client = createConsulClient({ address: 'http://127.0.0.1:1' });
    try {
      expect(() => build(mtls({ source: { consul: {} } }), { serviceName: 'web' })).toThrow('needs the `consul` section');
      expect(() => build(mtls({ source: { consul: {} } }), { consul: client })).toThrow('set mtls.source.consul.service or service.name');
      expect(build(mtls({ source: { consul: { service: 'web' } } }), { consul: client }).kind).toBe('consul');
    } finally {
      client.close();
    }
  });
});
