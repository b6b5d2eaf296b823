// SPDX-License-Identifier: Apache-2.0
// Golden tests of the injector: every pod in fixtures/ → the patch in golden/ (inject(), the pure core), the same
// fixtures through the real HTTPS webhook (AdmissionReview in, base64 JSON Patch out), and every patched pod
// validated strictly against the Kubernetes schemas. Stale? Regenerate with
// `UPDATE_GOLDEN=1 npx vitest run test/injector` and review the diff.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from '../../src/injector/inject.js';
import { injectorSettingsSchema, type InjectorSettings } from '../../src/injector/settings.js';
import { startWebhook, type Webhook } from '../../src/injector/webhook.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createInjectorMetrics } from '../../src/telemetry/metrics.js';
import { applyPatch, type AddOperation } from '../helpers/json-patch.js';
import { validateObjects, type K8sObject } from '../helpers/k8s-schema.js';
import { usePki } from '../helpers/test-pki.js';

const DIR = import.meta.dirname;
const REGENERATE = 'UPDATE_GOLDEN=1 npx vitest run test/injector';
interface Fixture {
  description: string;
  settings?: Record<string, unknown>;
  pod: K8sObject;
}
const names = readdirSync(join(DIR, 'fixtures')).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort();
const fixture = (name: string): Fixture => JSON.parse(readFileSync(join(DIR, 'fixtures', `${name}.json`), 'utf8')) as Fixture;
const settingsOf = (f: Fixture): InjectorSettings => injectorSettingsSchema.parse(f.settings ?? {});
const goldenFile = (name: string) => join(DIR, 'golden', `${name}.json`);

/** The golden text of one fixture: what inject() decided and its patch. */
function actual(name: string): string {
  const f = fixture(name);
  const r = inject(f.pod as Record<string, unknown>, settingsOf(f));
  return `${JSON.stringify({ action: r.action, status: r.status, warnings: r.warnings, patch: r.patch }, null, 2)}\n`;
}

describe('inject() against the golden patches', () => {
  it('has a fixture for every golden file and the reverse', () => {
    const goldens = readdirSync(join(DIR, 'golden')).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort();
    if (process.env['UPDATE_GOLDEN'] !== '1') expect(goldens, `stale golden files: run ${REGENERATE}`).toEqual(names);
    expect(names.length).toBeGreaterThanOrEqual(9);
  });

  it.each(names)('%s', (name) => {
    const text = actual(name);
    if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(goldenFile(name), text);
    let golden = '';
    try {
      golden = readFileSync(goldenFile(name), 'utf8');
    } catch {
      expect.fail(`no golden for ${name}: run ${REGENERATE}`);
    }
    expect(text, `golden/${name}.json is stale: run ${REGENERATE} and review the diff`).toBe(golden);
  });

  it('every patched pod is valid against the Kubernetes schemas (unknown fields fail)', async () => {
    const objects = names.map((name) => {
      const f = fixture(name);
      const { patch } = JSON.parse(readFileSync(goldenFile(name), 'utf8')) as { patch: AddOperation[] };
      return { label: `${name} (patched)`, object: applyPatch(f.pod, patch) };
    });
    expect(await validateObjects(objects)).toEqual([]);
  }, 60_000);

  it('the strict check fails on a misspelled field in a patched pod', async () => {
    const f = fixture('deployment-pod');
    const { patch } = JSON.parse(readFileSync(goldenFile('deployment-pod'), 'utf8')) as { patch: AddOperation[] };
    const pod = applyPatch(f.pod, patch) as unknown as { spec: { initContainers: Array<Record<string, unknown>> } };
    const sidecar = pod.spec.initContainers[1] as Record<string, unknown>;
    sidecar['readOnlyRootFileSystem'] = true; // the real field lives in securityContext, spelled ...Filesystem
    const problems = await validateObjects([{ label: 'misspelled', object: pod as unknown as K8sObject }]);
    expect(problems.join('\n')).toMatch(/readOnlyRootFileSystem.*does not exist in type 'I(IoK8sApiCoreV1)?Container'/);
  }, 60_000);
});

describe('the same fixtures through the HTTPS webhook', () => {
  const pki = usePki();
  const ca = pki.ca('webhook-ca');
  const leaf = pki.leaf(ca, 'webhook', { spiffeId: null, extraSans: ['DNS:localhost', 'IP:127.0.0.1'] });
  const webhooks = new Map<string, Webhook>();
  const log = createLogger({ level: 'silent' });

  beforeAll(async () => {
    for (const name of names) {
      webhooks.set(
        name,
        await startWebhook({ listen: '127.0.0.1:0', certFile: leaf.certFile, keyFile: leaf.keyFile, settings: settingsOf(fixture(name)), log, metrics: createInjectorMetrics() }),
      );
    }
  });
  afterAll(async () => {
    await Promise.all([...webhooks.values()].map((w) => w.close()));
  });

  it.each(names)('%s', async (name) => {
    const f = fixture(name);
    const uid = `uid-${name}`;
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        namespace: (f.pod['metadata'] as { namespace?: string }).namespace ?? 'default',
        operation: 'CREATE',
        userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
        object: f.pod,
        oldObject: null,
        dryRun: false,
      },
    };
    const answer = await postJson(webhooks.get(name) as Webhook, JSON.stringify(review), ca.certPem);
    const golden = JSON.parse(readFileSync(goldenFile(name), 'utf8')) as { action: string; status: string; patch: unknown[] };
    expect(answer.status).toBe(200);
    const response = (answer.body as { response: Record<string, unknown> }).response;
    expect(response['uid']).toBe(uid);
    if (golden.action === 'invalid') {
      expect(response).toMatchObject({ allowed: false, status: { code: 400, message: `meshlet: ${golden.status}` } });
    } else if (golden.patch.length === 0) {
      expect(response['allowed']).toBe(true);
      expect(response['patch']).toBeUndefined();
    } else {
      expect(response['allowed']).toBe(true);
      expect(response['patchType']).toBe('JSONPatch');
      expect(JSON.parse(Buffer.from(response['patch'] as string, 'base64').toString('utf8'))).toEqual(golden.patch);
    }
  });
});

/** POSTs `body` to the webhook over HTTPS, trusting `caPem`; resolves with the status and the parsed JSON. */
export function postJson(webhook: Webhook, body: string | Buffer, caPem: string, method = 'POST'): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: webhook.address.port, path: '/inject', method, ca: caPem, servername: 'localhost', headers: { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          } catch (err) {
            reject(err as Error);
          }
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
