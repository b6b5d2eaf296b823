// SPDX-License-Identifier: Apache-2.0
// Env overrides of the bootstrap: which variables win, which sections they create, and how bad values are named.

import { describe, expect, it } from 'vitest';
import { loadBootstrap, type LoadResult } from '../../../src/config/load.js';
import { staticSource, type Env } from '../../../src/config/source.js';

const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;
const load = (text: string, env: Env) => loadBootstrap(staticSource('sidecar.yaml', text), env);
const BOTH = yaml('service: { name: a }', 'inbound: { app: 127.0.0.1:50051 }', 'outbound: {}');

function config(result: LoadResult) {
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.config;
}

describe('env overrides', () => {
  it('override the listeners, admin address and log level', async () => {
    const c = config(
      await load(BOTH, {
        MESHLET_LOG_LEVEL: 'debug',
        MESHLET_ADMIN_LISTEN: '127.0.0.1:9991',
        MESHLET_INBOUND_LISTEN: '0.0.0.0:5143',
        MESHLET_OUTBOUND_LISTEN: '127.0.0.1:5140',
      }),
    );
    expect(c.log).toEqual({ level: 'debug', accessLog: true });
    expect(c.admin).toEqual({ listen: '127.0.0.1:9991' });
    expect(c.inbound).toEqual({ listen: '0.0.0.0:5143', app: '127.0.0.1:50051' });
    expect(c.outbound).toEqual({ listen: '127.0.0.1:5140' });
  });

  it('win over the values in the file', async () => {
    const c = config(await load(`${BOTH}log: { level: warn, accessLog: false }\n`, { MESHLET_LOG_LEVEL: 'error' }));
    expect(c.log).toEqual({ level: 'error', accessLog: false });
  });

  it('treat an empty variable as unset', async () => {
    const c = config(await load(`${BOTH}log: { level: warn }\n`, { MESHLET_LOG_LEVEL: '', CONSUL_HTTP_ADDR: '' }));
    expect(c.log.level).toBe('warn');
    expect(c.consul).toBeUndefined();
  });

  it('leave everything alone when no variable is set', async () => {
    expect(await load(BOTH, {})).toEqual(await load(BOTH, { PATH: '/usr/bin', HOME: '/root' }));
  });

  it('override consul address, token and CA when there is a consul section', async () => {
    const c = config(
      await load(`${BOTH}consul: { address: http://10.0.0.1:8500, token: file-token }\n`, {
        CONSUL_HTTP_ADDR: 'https://consul.internal:8501',
        CONSUL_HTTP_TOKEN: 'env-token',
        CONSUL_CACERT: '/etc/consul/ca.pem',
      }),
    );
    expect(c.consul).toMatchObject({
      address: 'https://consul.internal:8501',
      token: 'env-token',
      caFile: '/etc/consul/ca.pem',
    });
  });

  it('CONSUL_HTTP_ADDR creates the consul section when there is none (the demo relies on it)', async () => {
    const c = config(await load(BOTH, { CONSUL_HTTP_ADDR: 'http://consul:8500', CONSUL_HTTP_TOKEN: 't' }));
    expect(c.consul).toEqual({
      address: 'http://consul:8500',
      token: 't',
      register: true,
      waitMs: 30_000,
      idleWatchTimeoutMs: 300_000,
      requestTimeoutMs: 10_000,
      maxResponseBytes: 64 * 1024 * 1024,
      watch: { minIntervalMs: 100, cpuShare: 0.035, maxCostWaitMs: 3000, backoffBaseMs: 100, backoffMaxMs: 800, logIntervalMs: 10_000 },
      check: { intervalMs: 10_000, timeoutMs: 2000, deregisterCriticalAfterMs: 60_000 },
    });
  });

  it('reads a bare CONSUL_HTTP_ADDR as http, or https with CONSUL_HTTP_SSL=true, like the Consul CLI', async () => {
    expect(config(await load(BOTH, { CONSUL_HTTP_ADDR: '127.0.0.1:8500' })).consul?.address).toBe('http://127.0.0.1:8500');
    const ssl = await load(BOTH, { CONSUL_HTTP_ADDR: 'consul:8501', CONSUL_HTTP_SSL: 'true' });
    expect(config(ssl).consul?.address).toBe('https://consul:8501');
  });

  it('ignore the Consul token and CA without a consul section', async () => {
    const c = config(await load(BOTH, { CONSUL_HTTP_TOKEN: 't', CONSUL_CACERT: '/ca.pem' }));
    expect(c.consul).toBeUndefined();
  });

  it('report a listener override without its section instead of ignoring it', async () => {
    const result = await load(yaml('service: { name: a }', 'outbound: {}'), { MESHLET_INBOUND_LISTEN: '0.0.0.0:6143' });
    expect(result).toEqual({
      ok: false,
      errors: [
        {
          file: 'MESHLET_INBOUND_LISTEN',
          line: 0,
          column: 0,
          path: 'inbound.listen',
          message: 'set, but the config has no "inbound" section to apply it to',
        },
      ],
    });
  });

  it('name the variable, not the file, for a bad value', async () => {
    const result = await load(BOTH, { MESHLET_ADMIN_LISTEN: 'localhost', MESHLET_LOG_LEVEL: 'loud', CONSUL_HTTP_ADDR: 'unix:///consul.sock' });
    expect(result.ok).toBe(false);
    const errors = result.ok ? [] : result.errors;
    expect(errors.map((e) => [e.file, e.line, e.column, e.path])).toEqual([
      ['CONSUL_HTTP_ADDR', 0, 0, 'consul.address'],
      ['MESHLET_ADMIN_LISTEN', 0, 0, 'admin.listen'],
      ['MESHLET_LOG_LEVEL', 0, 0, 'log.level'],
    ]);
    expect(errors[1]?.message).toContain('expected host:port');
  });

  it('keep file errors on the file when an env value is fine', async () => {
    const result = await load(yaml('service: { name: a }', 'outbound: {}', 'admin: { listen: nowhere, extra: 1 }'), {
      MESHLET_ADMIN_LISTEN: '127.0.0.1:0',
    });
    expect(result.ok ? [] : result.errors.map((e) => `${e.file}:${e.line}:${e.column} ${e.path}`)).toEqual([
      'sidecar.yaml:3:27 admin.extra',
    ]);
  });

  it('leave a section that is not a map to the schema, reported against the file', async () => {
    const result = await load(yaml('service: { name: a }', 'outbound: {}', 'log: loud'), { MESHLET_LOG_LEVEL: 'debug' });
    expect(result.ok ? [] : result.errors.map((e) => `${e.file}:${e.line}:${e.column} ${e.path}`)).toEqual([
      'sidecar.yaml:3:6 log',
    ]);
  });
});
