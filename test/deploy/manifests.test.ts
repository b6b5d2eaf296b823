// SPDX-License-Identifier: Apache-2.0
// Every kustomization under deploy/ builds offline with `kubectl kustomize`, and every object it outputs is valid
// against the Kubernetes schemas, strictly (an unknown or misspelled field fails: test/helpers/k8s-schema.ts).
// The settings and sidecar configs inside the ConfigMaps load with meshlet's own loaders, and the manifests keep
// the promises docs/kubernetes.md makes (webhook fields, rollouts, autoscaling, probes).

import { execFile, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBootstrap } from '../../src/config/load.js';
import { staticSource } from '../../src/config/source.js';
import { loadInjectorSettings } from '../../src/injector/command.js';
import { inject } from '../../src/injector/inject.js';
import { DEFAULT_SETTINGS } from '../../src/injector/settings.js';
import { runCaCommand } from '../../src/tls/ca-cli.js';
import { validateObjects, type K8sObject } from '../helpers/k8s-schema.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const KUBECTL = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
if (!KUBECTL) process.stderr.write('test/deploy: skipped: kubectl is not installed (needed for `kubectl kustomize`)\n');

async function kustomize(dir: string): Promise<K8sObject[]> {
  const { stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((d) => d.toJSON() as K8sObject);
}
const label = (o: K8sObject) => `${o.kind}/${(o['metadata'] as { name: string }).name}`;
const find = (objects: K8sObject[], kind: string, name: string): Record<string, any> => {
  const o = objects.find((x) => x.kind === kind && (x['metadata'] as { name: string }).name === name);
  if (o === undefined) throw new Error(`no ${kind}/${name}`);
  return o as Record<string, any>;
};
const quiet = { stdout: { write: () => true }, stderr: { write: (t: string) => process.stderr.write(t) } };

describe('the image, its default config and the injector template agree', () => {
  it('the sidecar runs the image\'s default command, with the default ports and UID', async () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(runtime)?.[1] ?? 'null') as string[];
    expect(runtime).toMatch(/^COPY deploy\/sidecar-injector\/sidecar\.yaml \/etc\/meshlet\/sidecar\.yaml$/m);
    expect(runtime).toMatch(new RegExp(`^USER ${DEFAULT_SETTINGS.proxyUid}:${DEFAULT_SETTINGS.proxyUid}$`, 'm'));
    const p = { apiVersion: 'v1', kind: 'Pod', spec: { containers: [{ name: 'app', image: 'a' }] } };
    const sidecar = (inject(p, DEFAULT_SETTINGS).patch[0]?.value as Record<string, unknown>[])[1] as { args: string[] };
    expect(sidecar.args).toEqual(cmd);
    const loaded = await loadBootstrap(staticSource('sidecar.yaml', readFileSync(join(ROOT, 'deploy/sidecar-injector/sidecar.yaml'), 'utf8')), {});
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const port = (hostPort: string | undefined) => Number(hostPort?.split(':').pop());
    expect({ inbound: port(loaded.config.inbound?.listen), outbound: port(loaded.config.outbound?.listen), admin: port(loaded.config.admin.listen) }).toEqual(DEFAULT_SETTINGS.ports);
  });
});

describe.skipIf(!KUBECTL)('deploy/ manifests', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'meshlet-deploy-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('the injector base and the cert-manager overlay build and are valid', async () => {
    const base = await kustomize(join(ROOT, 'deploy/sidecar-injector/base'));
    const certManager = await kustomize(join(ROOT, 'deploy/sidecar-injector/overlays/cert-manager'));
    expect(await validateObjects([...base, ...certManager].map((o) => ({ label: label(o), object: o })))).toEqual([]);

    const hook = find(base, 'MutatingWebhookConfiguration', 'meshlet-sidecar-injector')['webhooks'][0];
    expect(hook).toMatchObject({
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      failurePolicy: 'Fail',
      reinvocationPolicy: 'IfNeeded',
      timeoutSeconds: 10,
      namespaceSelector: { matchLabels: { 'meshlet.io/inject': 'enabled' } },
      clientConfig: { service: { name: 'meshlet-injector', namespace: 'meshlet-system', path: '/inject' } },
    });
    const deployment = find(base, 'Deployment', 'meshlet-injector');
    expect(deployment['spec']['replicas']).toBe(2);
    expect(deployment['spec']['template']['spec']['securityContext']).toMatchObject({ runAsNonRoot: true, runAsUser: 4242 });
    const container = deployment['spec']['template']['spec']['containers'][0];
    expect(container['readinessProbe']['httpGet']).toEqual({ path: '/ready', port: 'admin' });
    expect(container['livenessProbe']['httpGet']).toEqual({ path: '/live', port: 'admin' });
    expect(find(base, 'PodDisruptionBudget', 'meshlet-injector')['spec']['minAvailable']).toBe(1);

    // The settings ConfigMap loads as `meshlet injector --config` loads it, and agrees with the webhook.
    const settingsText = find(base, 'ConfigMap', 'meshlet-injector')['data']['injector.yaml'] as string;
    const file = join(tmp, 'injector.yaml');
    cpSync(join(ROOT, 'deploy/sidecar-injector/base/injector.yaml'), file);
    expect(readFileSync(file, 'utf8')).toBe(settingsText);
    const settings = await loadInjectorSettings(file);
    expect(settings).toMatchObject({ ok: true, settings: { failurePolicy: hook.failurePolicy, image: container['image'] } });

    const cm = find(certManager, 'MutatingWebhookConfiguration', 'meshlet-sidecar-injector');
    expect(cm['metadata']['annotations']['cert-manager.io/inject-ca-from']).toBe('meshlet-system/meshlet-injector');
    const cert = find(certManager, 'Certificate', 'meshlet-injector');
    expect(cert['spec']['secretName']).toBe('meshlet-injector-tls');
    expect(cert['spec']['dnsNames']).toContain('meshlet-injector.meshlet-system.svc');
  }, 60_000);

  it('the meshlet-ca overlay builds once `meshlet ca webhook` has written its files', async () => {
    const copy = join(tmp, 'deploy');
    cpSync(join(ROOT, 'deploy'), copy, { recursive: true });
    const overlay = join(copy, 'sidecar-injector/overlays/meshlet-ca');
    expect(await runCaCommand(['init', '--dir', join(overlay, 'ca'), '--trust-domain', 'cluster.local'], quiet)).toBe(0);
    let printed = '';
    const io = { stdout: { write: (t: string) => (printed += t) }, stderr: quiet.stderr };
    expect(await runCaCommand(['webhook', '--dir', join(overlay, 'ca'), '--service', 'meshlet-injector', '--namespace', 'meshlet-system', '--out', overlay], io)).toBe(0);
    const objects = await kustomize(overlay);
    expect(await validateObjects(objects.map((o) => ({ label: label(o), object: o })))).toEqual([]);

    const caBundle = find(objects, 'MutatingWebhookConfiguration', 'meshlet-sidecar-injector')['webhooks'][0]['clientConfig']['caBundle'];
    expect(printed).toContain(`caBundle: ${caBundle}`);
    const root = new X509Certificate(Buffer.from(caBundle, 'base64'));
    const secret = find(objects, 'Secret', 'meshlet-injector-tls');
    expect(secret['type']).toBe('kubernetes.io/tls');
    const leaf = new X509Certificate(Buffer.from(secret['data']['tls.crt'].replace(/\s/g, ''), 'base64'));
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(leaf.checkHost('meshlet-injector.meshlet-system.svc')).toBe('meshlet-injector.meshlet-system.svc');
    // The Deployment mounts the Secret the overlay generates.
    const volumes = find(objects, 'Deployment', 'meshlet-injector')['spec']['template']['spec']['volumes'];
    expect(volumes).toContainEqual({ name: 'tls', secret: { secretName: 'meshlet-injector-tls' } });
  }, 60_000);

  it('a misspelled field in a manifest fails the strict check', async () => {
    const base = await kustomize(join(ROOT, 'deploy/sidecar-injector/base'));
    const deployment = structuredClone(find(base, 'Deployment', 'meshlet-injector'));
    deployment['spec']['template']['spec']['containers'][0]['readinesProbe'] = deployment['spec']['template']['spec']['containers'][0]['readinessProbe'];
    const problems = await validateObjects([{ label: 'Deployment/typo', object: deployment as K8sObject }]);
    expect(problems.join('\n')).toMatch(/Deployment\/typo: .*'"?readinesProbe"?' does not exist/);
  }, 60_000);

  it('the example services and the Prometheus scrape config build, are valid and keep their promises', async () => {
    const examples = await kustomize(join(ROOT, 'deploy/examples'));
    const prometheus = await kustomize(join(ROOT, 'deploy/prometheus'));
    expect(await validateObjects([...examples, ...prometheus].map((o) => ({ label: label(o), object: o })))).toEqual([]);

    expect(find(examples, 'Namespace', 'shop')['metadata']['labels']['meshlet.io/inject']).toBe('enabled');
    for (const name of ['user-service', 'order-service']) {
      const d = find(examples, 'Deployment', name);
      expect(d['spec']['strategy']).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
      const app = d['spec']['template']['spec']['containers'][0];
      expect(app['readinessProbe']['grpc']).toEqual({ port: 6143 });
      expect(app['livenessProbe']['grpc']).toEqual({ port: 6143 });
      expect(app['resources']['requests']).toHaveProperty('cpu');
      const configMap = d['spec']['template']['metadata']['annotations']['meshlet.io/config-map'];
      const sidecar = find(examples, 'ConfigMap', configMap)['data']['sidecar.yaml'] as string;
      const loaded = await loadBootstrap(staticSource(`${configMap}/sidecar.yaml`, sidecar), {});
      expect(loaded.ok, JSON.stringify(loaded)).toBe(true);
      if (loaded.ok) {
        expect(loaded.config.service.name).toBe(name);
        expect(loaded.config.consul?.register).toBe(true);
        expect(loaded.config.inbound?.listen).toBe('0.0.0.0:6143');
      }
      const hpa = find(examples, 'HorizontalPodAutoscaler', name);
      expect(hpa['spec']['metrics'].map((m: { resource: { name: string } }) => m.resource.name).sort()).toEqual(['cpu', 'memory']);
      expect(find(examples, 'PodDisruptionBudget', name)['spec']['minAvailable']).toBe(1);
    }
    const scrape = parse(find(prometheus, 'ConfigMap', 'prometheus-meshlet-scrape')['data']['prometheus.yml']) as { scrape_configs: { job_name: string }[] };
    expect(scrape.scrape_configs.map((j) => j.job_name)).toEqual(['kubernetes-pods']);
  }, 60_000);
});
