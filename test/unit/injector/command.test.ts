// SPDX-License-Identifier: Apache-2.0
// `meshlet injector` and `meshlet ca webhook` as a user runs them: usage errors, settings errors with their
// position, a running injector with its admin port (/ready, /metrics) that drains on SIGTERM.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnMeshlet, runMeshlet } from '../../helpers/cli.js';
import { usePki } from '../../helpers/test-pki.js';

const pki = usePki();
const ca = pki.ca('ca');
const leaf = pki.leaf(ca, 'injector', { spiffeId: null, extraSans: ['DNS:localhost'] });
const dir = mkdtempSync(join(tmpdir(), 'meshlet-injector-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('meshlet injector', () => {
  it('needs --listen, --tls-cert and --tls-key (exit 2)', async () => {
    const r = await runMeshlet(['injector', '--listen', '127.0.0.1:0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--listen, --tls-cert and --tls-key are required');
  }, 30_000);

  it('refuses an unknown --log-level (exit 2)', async () => {
    const r = await runMeshlet(['injector', '--listen', '127.0.0.1:0', '--tls-cert', leaf.certFile, '--tls-key', leaf.keyFile, '--log-level', 'loud']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--log-level "loud": expected one of');
  }, 30_000);

  it('reports every bad setting as file:line:column: path: message and starts nothing (exit 1)', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'mode: sidecar\nresources:\n  cpuRequest: lots\nimagePulPolicy: Always\n');
    const r = await runMeshlet(['injector', '--listen', '127.0.0.1:0', '--tls-cert', leaf.certFile, '--tls-key', leaf.keyFile, '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${file}:1:7: mode: `));
    expect(r.stderr).toMatch(new RegExp(`${file}:3:15: resources.cpuRequest: expected a Kubernetes quantity`));
    expect(r.stderr).toMatch(/imagePulPolicy/);
    expect(r.stderr).toContain('is invalid; nothing started');
  }, 30_000);

  it('serves reviews over HTTPS, /ready and /metrics on its admin port, and exits 0 on SIGTERM', async () => {
    const child = spawnMeshlet(['injector', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--tls-cert', leaf.certFile, '--tls-key', leaf.keyFile, '--log-level', 'warn']);
    let stderr = '';
    const ports = await new Promise<{ webhook: number; admin: number }>((resolve, reject) => {
      child.stderr?.on('data', (c: Buffer) => {
        stderr += c.toString();
        const m = /webhook https:\/\/\S+:(\d+) admin port (\d+)/.exec(stderr);
        if (m) resolve({ webhook: Number(m[1]), admin: Number(m[2]) });
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    expect((await fetch(`http://127.0.0.1:${ports.admin}/ready`)).status).toBe(200);
    const answer = await new Promise<any>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: ports.webhook, path: '/inject', method: 'POST', ca: ca.certPem, servername: 'localhost' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(JSON.parse(body)));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'x', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', object: { spec: { containers: [] } } } }));
    });
    expect(answer.response).toMatchObject({ uid: 'x', allowed: true, patchType: 'JSONPatch' });
    const metrics = await (await fetch(`http://127.0.0.1:${ports.admin}/metrics`)).text();
    expect(metrics).toContain('meshlet_injector_reviews_total{result="injected"} 1');
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
  }, 30_000);
});

describe('meshlet ca webhook', () => {
  it('names what it needs (exit 2)', async () => {
    const r = await runMeshlet(['ca', 'webhook', '--dir', dir, '--service', 'meshlet-injector']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ca webhook needs --service NAME, --namespace NS and --out DIR');
  }, 30_000);
});
