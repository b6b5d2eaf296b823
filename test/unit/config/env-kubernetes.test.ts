// SPDX-License-Identifier: Apache-2.0
// The env the Kubernetes injector sets on the sidecar: MESHLET_SERVICE_NAME (service.name) and MESHLET_POD_IP
// (service.address, from the downward API's status.podIP), applied like every other override.

import { describe, expect, it } from 'vitest';
import { loadBootstrap } from '../../../src/config/load.js';
import { staticSource } from '../../../src/config/source.js';

const DOC = 'service: { name: app }\ninbound: { app: 127.0.0.1:50051 }\n';

describe('Kubernetes env overrides', () => {
  it('MESHLET_SERVICE_NAME and MESHLET_POD_IP set the service name and address', async () => {
    const r = await loadBootstrap(staticSource('s.yaml', DOC), { MESHLET_SERVICE_NAME: 'user-service', MESHLET_POD_IP: '10.1.2.3' });
    expect(r.ok && r.config.service).toMatchObject({ name: 'user-service', address: '10.1.2.3' });
  });

  it('a bad MESHLET_SERVICE_NAME is reported against the variable', async () => {
    const r = await loadBootstrap(staticSource('s.yaml', DOC), { MESHLET_SERVICE_NAME: '-bad' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]).toMatchObject({ file: 'MESHLET_SERVICE_NAME', path: 'service.name' });
  });

  it('unset or empty variables leave the file alone', async () => {
    const r = await loadBootstrap(staticSource('s.yaml', DOC), { MESHLET_POD_IP: '' });
    expect(r.ok && r.config.service).toMatchObject({ name: 'app' });
    expect(r.ok && r.config.service.address).toBeUndefined();
  });
});
