// SPDX-License-Identifier: Apache-2.0
// The HTTPS webhook server: bad input never crashes it (every failure is an AdmissionReview answer and a counted
// result), the body is bounded, and the serving certificate is reloaded when its files change.

import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { injectorSettingsSchema } from '../../../src/injector/settings.js';
import { startWebhook, type Webhook } from '../../../src/injector/webhook.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { createInjectorMetrics, type InjectorMetrics } from '../../../src/telemetry/metrics.js';
import { usePki } from '../../helpers/test-pki.js';

const pki = usePki();
const ca = pki.ca('ca');
const first = pki.leaf(ca, 'first', { spiffeId: null, extraSans: ['DNS:localhost'] });
const second = pki.leaf(ca, 'second', { spiffeId: null, extraSans: ['DNS:localhost'] });
const dir = mkdtempSync(join(tmpdir(), 'meshlet-webhook-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let webhook: Webhook | undefined;
afterEach(async () => {
  await webhook?.close();
  webhook = undefined;
});

async function start(settings: Record<string, unknown> = {}, reloadDebounceMs = 20): Promise<{ webhook: Webhook; metrics: InjectorMetrics }> {
  copyFileSync(first.certFile, join(dir, 'tls.crt'));
  copyFileSync(first.keyFile, join(dir, 'tls.key'));
  const metrics = createInjectorMetrics();
  webhook = await startWebhook({
    listen: '127.0.0.1:0',
    certFile: join(dir, 'tls.crt'),
    keyFile: join(dir, 'tls.key'),
    settings: injectorSettingsSchema.parse(settings),
    log: createLogger({ level: 'silent' }),
    metrics,
    reloadDebounceMs,
  });
  return { webhook, metrics };
}

function call(w: Webhook, body: string | Buffer, method = 'POST'): Promise<{ status: number; json: any; peerCert: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: w.address.port, path: '/inject', method, ca: ca.certPem, servername: 'localhost', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const peer = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')), peerCert: peer }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const count = async (m: InjectorMetrics, result: string) => (await m.reviews.get()).values.find((v) => v.labels.result === result)?.value ?? 0;

describe('the webhook server', () => {
  it('answers a body over maxBodyBytes with 413 and an AdmissionReview error, and keeps serving', async () => {
    const { webhook: w, metrics } = await start({ maxBodyBytes: 2048 });
    const huge = await call(w, Buffer.alloc(64 * 1024, 'x'));
    expect(huge.status).toBe(413);
    expect(huge.json.response).toMatchObject({ allowed: false, status: { code: 400, message: expect.stringContaining('maxBodyBytes (2048)') } });
    const ok = await call(w, '{}');
    expect(ok.status).toBe(200);
    expect(ok.json.response.allowed).toBe(false);
    expect(await count(metrics, 'error')).toBe(2);
  });

  it('answers a GET and malformed JSON per the failure policy (Ignore: allowed, no patch)', async () => {
    const { webhook: w } = await start({ failurePolicy: 'Ignore' });
    for (const [body, method] of [['', 'GET'], ['{not json', 'POST']] as const) {
      const r = await call(w, body, method);
      expect(r.status).toBe(200);
      expect(r.json.response).toMatchObject({ allowed: true, warnings: [expect.stringContaining('not injected')] });
      expect(r.json.response.patch).toBeUndefined();
    }
  });

  it('survives a client that sends garbage instead of a TLS handshake', async () => {
    const { webhook: w } = await start();
    await new Promise<void>((resolve) => {
      const s = connect(w.address.port, '127.0.0.1', () => s.end('GET / HTTP/1.1\r\n\r\n'));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    expect((await call(w, '{}')).status).toBe(200);
  });

  it('reloads the certificate when its files change, and keeps the old one when the new pair is bad', async () => {
    const { webhook: w, metrics } = await start();
    const before = (await call(w, '{}')).peerCert;
    copyFileSync(second.keyFile, join(dir, 'tls.key'));
    copyFileSync(second.certFile, join(dir, 'tls.crt'));
    // Each request is a new TLS handshake (agent: false): the first one after the reload sees the new certificate.
    let after = before;
    const deadline = Date.now() + 5000;
    while (after === before && Date.now() < deadline) after = (await call(w, '{}')).peerCert;
    expect(after).not.toBe(before);
    expect((await metrics.certReloads.get()).values.find((v) => v.labels.result === 'ok')?.value).toBeGreaterThanOrEqual(1);

    // A key that does not match the certificate: reload refused, the second pair still served.
    writeFileSync(join(dir, 'tls.key'), (await import('node:fs')).readFileSync(first.keyFile));
    expect(await w.reload()).toBe(false);
    expect((await call(w, '{}')).peerCert).toBe(after);
  });
});
