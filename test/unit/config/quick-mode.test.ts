// SPDX-License-Identifier: Apache-2.0
// Quick mode's bootstrap: the admin default is run's (127.0.0.1:6191, as the README says), flags are the whole
// config (no MESHLET_* overrides), and bad flags come back as issues naming the key.

import { afterEach, describe, expect, it } from 'vitest';
import { loadQuickMode, quickModeInput } from '../../../src/config/quick-mode.js';
import { bootstrapSchema } from '../../../src/config/schema.js';

const FLAGS = { listen: '127.0.0.1:6143', upstream: '127.0.0.1:50051' };

describe('quick mode bootstrap', () => {
  const saved = process.env.MESHLET_ADMIN_LISTEN;
  afterEach(() => {
    if (saved === undefined) delete process.env.MESHLET_ADMIN_LISTEN;
    else process.env.MESHLET_ADMIN_LISTEN = saved;
  });

  it('listens for admin on 127.0.0.1:6191 without --admin, the same default as run', async () => {
    const loaded = await loadQuickMode(FLAGS);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    expect(loaded.config.admin.listen).toBe('127.0.0.1:6191');
    expect(loaded.config.admin.listen).toBe(bootstrapSchema.parse({ service: { name: 'x' }, inbound: { listen: '127.0.0.1:1', app: '127.0.0.1:2' } }).admin.listen);
  });

  it('takes --admin 127.0.0.1:0 for a free port', async () => {
    const loaded = await loadQuickMode({ ...FLAGS, admin: '127.0.0.1:0' });
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    expect(loaded.config.admin.listen).toBe('127.0.0.1:0');
  });

  it('forwards the listener to the upstream as a sidecar inbound, with no outbound side', async () => {
    const loaded = await loadQuickMode({ ...FLAGS, logLevel: 'warn', accessLog: false });
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    expect(loaded.config.inbound).toMatchObject({ listen: '127.0.0.1:6143', app: '127.0.0.1:50051' });
    expect(loaded.config.outbound).toBeUndefined();
    expect(loaded.config.log).toEqual({ level: 'warn', accessLog: false });
  });

  it('ignores MESHLET_ADMIN_LISTEN: the flags are the whole config', async () => {
    process.env.MESHLET_ADMIN_LISTEN = '127.0.0.1:7777';
    const loaded = await loadQuickMode(FLAGS);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    expect(loaded.config.admin.listen).toBe('127.0.0.1:6191');
  });

  it('reports a bad flag as an issue at its key, from "command line"', async () => {
    const loaded = await loadQuickMode({ ...FLAGS, admin: 'nowhere', logLevel: 'loud' });
    expect(loaded.ok).toBe(false);
    if (loaded.ok) return;
    expect(loaded.errors.map((e) => [e.file, e.path])).toEqual(
      expect.arrayContaining([
        ['command line', 'admin.listen'],
        ['command line', 'log.level'],
      ]),
    );
  });

  it('turns --grpc-web-origin into inbound.grpcWeb with those CORS origins and the schema defaults', async () => {
    const loaded = await loadQuickMode({ ...FLAGS, grpcWebOrigins: ['http://127.0.0.1:7190', 'https://*.example.com'] });
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    expect(loaded.config.inbound?.grpcWeb).toEqual({
      enabled: true,
      maxRequestBytes: 4 << 20,
      cors: { allowedOrigins: ['http://127.0.0.1:7190', 'https://*.example.com'], allowedHeaders: [], exposedHeaders: [], maxAgeSeconds: 600 },
    });
    expect((await loadQuickMode(FLAGS)).ok && quickModeInput(FLAGS).inbound?.grpcWeb).toBeUndefined();
  });

  it('reports a --grpc-web-origin that is not an origin at its key', async () => {
    const loaded = await loadQuickMode({ ...FLAGS, grpcWebOrigins: ['https://ok.test', 'example.com/path'] });
    expect(loaded.ok).toBe(false);
    if (loaded.ok) return;
    expect(loaded.errors.map((e) => e.path)).toEqual(['inbound.grpcWeb.cors.allowedOrigins[1]']);
    expect(loaded.errors[0]?.message).toContain('expected an origin like https://app.example.com');
  });

  it('writes only the flags given, leaving every other default to the schema', () => {
    expect(quickModeInput(FLAGS)).toEqual({
      service: { name: 'proxy' },
      inbound: { listen: '127.0.0.1:6143', app: '127.0.0.1:50051' },
      log: { accessLog: true },
    });
  });
});
