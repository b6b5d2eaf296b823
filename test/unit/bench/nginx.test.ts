// SPDX-License-Identifier: Apache-2.0
// bench/nginx.ts renderNginxConfig: the default suite's h2c config, and the mTLS suite's TLS listener (client certs
// required) and TLS upstream (client cert, verified chain and name).

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeBenchCerts } from '../../../bench/certs.js';
import { type NginxConfigOptions, renderNginxConfig } from '../../../bench/nginx.js';
import { findTool } from '../../../bench/tools.js';

const BASE: NginxConfigOptions = { prefix: '/p', listenPort: 8443, upstreamPort: 9000, keepalive: 100, version: [1, 22, 1], uid: 1000 };
const SERVER = { cert: '/c/server.crt', key: '/c/server.key', clientCa: '/c/ca.crt' };
const UPSTREAM = { cert: '/c/client.crt', key: '/c/client.key', ca: '/c/ca.crt', name: 'localhost' };

describe('renderNginxConfig', () => {
  it('renders the default suite\'s h2c proxy with no TLS directive', () => {
    const conf = renderNginxConfig(BASE);
    expect(conf).toContain('listen 127.0.0.1:8443 http2;');
    expect(conf).toContain('grpc_pass grpc://app;');
    expect(conf).not.toMatch(/ssl/);
    expect(conf).not.toMatch(/\{\{/);
  });

  it('puts ssl on the listener and requires client certs signed by the CA', () => {
    const conf = renderNginxConfig({ ...BASE, tls: { server: SERVER } });
    expect(conf).toContain('listen 127.0.0.1:8443 ssl http2;');
    for (const d of ['ssl_protocols TLSv1.2 TLSv1.3;', 'ssl_certificate /c/server.crt;', 'ssl_certificate_key /c/server.key;', 'ssl_client_certificate /c/ca.crt;', 'ssl_verify_client on;']) {
      expect(conf).toContain(d);
    }
    expect(conf).toContain('grpc_pass grpc://app;');
  });

  it('uses "http2 on;" with ssl on nginx 1.25.1 and later', () => {
    const conf = renderNginxConfig({ ...BASE, version: [1, 25, 1], tls: { server: SERVER } });
    expect(conf).toContain('listen 127.0.0.1:8443 ssl;');
    expect(conf).toContain('http2 on;');
  });

  it('proxies over grpcs with a client certificate and verification of the upstream\'s chain and name', () => {
    const conf = renderNginxConfig({ ...BASE, tls: { upstream: UPSTREAM } });
    expect(conf).toContain('listen 127.0.0.1:8443 http2;');
    expect(conf).toContain('grpc_pass grpcs://app;');
    for (const d of [
      'grpc_ssl_protocols TLSv1.2 TLSv1.3;',
      'grpc_ssl_certificate /c/client.crt;',
      'grpc_ssl_certificate_key /c/client.key;',
      'grpc_ssl_trusted_certificate /c/ca.crt;',
      'grpc_ssl_verify on;',
      'grpc_ssl_name localhost;',
    ]) {
      expect(conf).toContain(d);
    }
  });

  const nginx = findTool('nginx');
  const openssl = findTool('openssl');
  it.runIf(nginx !== undefined && openssl !== undefined)('renders configs that nginx -t accepts, both sides at once', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-nginx-'));
    try {
      mkdirSync(path.join(dir, 'certs'));
      const c = makeBenchCerts(openssl as string, path.join(dir, 'certs'));
      const conf = renderNginxConfig({
        ...BASE,
        prefix: dir,
        uid: process.getuid?.() ?? 1000,
        tls: {
          server: { cert: c.serverCert, key: c.serverKey, clientCa: c.caCert },
          upstream: { cert: c.clientCert, key: c.clientKey, ca: c.caCert, name: 'localhost' },
        },
      });
      writeFileSync(path.join(dir, 'nginx.conf'), conf);
      const r = spawnSync(nginx as string, ['-t', '-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
