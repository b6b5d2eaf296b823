// SPDX-License-Identifier: Apache-2.0
// decide() and inject() edge cases beyond the golden fixtures (test/injector/): pure, no I/O.

import { describe, expect, it } from 'vitest';
import { decide } from '../../../src/injector/decide.js';
import { escapePointer, inject, type PatchOperation } from '../../../src/injector/inject.js';
import { DEFAULT_SETTINGS, injectorSettingsSchema } from '../../../src/injector/settings.js';
import { applyPatch } from '../../helpers/json-patch.js';

type Pod = Record<string, any>;
const pod = (annotations?: Record<string, string>, spec: Record<string, unknown> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'ns', ...(annotations && { annotations }) },
  spec: { containers: [{ name: 'app', image: 'app:1' }], ...spec },
});
const patched = (p: Pod, settings = DEFAULT_SETTINGS): Pod => applyPatch(p, inject(p, settings).patch as PatchOperation[]);
const initArgs = (p: Pod): string[] => patched(p).spec.initContainers[0].args;

describe('decide', () => {
  it('injects by default (the namespace selector already chose the pod)', () => {
    expect(decide(pod())).toEqual({ action: 'inject' });
  });
  it('the pod annotation wins over the namespace label: "false" skips, "true" injects', () => {
    expect(decide(pod({ 'meshlet.io/inject': 'false' }))).toMatchObject({ action: 'skip' });
    expect(decide(pod({ 'meshlet.io/inject': 'true' }))).toEqual({ action: 'inject' });
  });
  it('refuses an inject annotation that is neither "true" nor "false", naming it', () => {
    expect(decide(pod({ 'meshlet.io/inject': 'yes' }))).toEqual({
      action: 'invalid',
      reason: 'annotation meshlet.io/inject: "yes": expected "true" or "false"',
    });
  });
  it('skips host-network pods even when asked to inject', () => {
    expect(decide(pod({ 'meshlet.io/inject': 'true' }, { hostNetwork: true }))).toMatchObject({ action: 'skip', reason: expect.stringContaining('hostNetwork') });
  });
  it('leaves a decided pod alone (reinvocation), whatever the earlier decision', () => {
    expect(decide(pod({ 'meshlet.io/status': 'skipped: whatever' }))).toMatchObject({ action: 'unchanged' });
    expect(decide(pod(undefined, { initContainers: [{ name: 'meshlet-init', image: 'x' }] }))).toMatchObject({ action: 'unchanged' });
  });
});

describe('inject', () => {
  it('is idempotent: the patched pod, reviewed again (reinvocationPolicy IfNeeded), gets no patch', () => {
    for (const mode of ['native', 'classic'] as const) {
      const once = patched(pod(), injectorSettingsSchema.parse({ mode }));
      const again = inject(once, injectorSettingsSchema.parse({ mode }));
      expect(again).toMatchObject({ action: 'unchanged', patch: [] });
    }
  });

  it('puts the redirect first and the native sidecar second, before the pod\'s own init containers', () => {
    const p = patched(pod(undefined, { initContainers: [{ name: 'setup', image: 's' }] }));
    expect(p.spec.initContainers.map((c: { name: string }) => c.name)).toEqual(['meshlet-init', 'meshlet', 'setup']);
    expect(p.spec.initContainers[1].restartPolicy).toBe('Always');
    expect(p.spec.containers.map((c: { name: string }) => c.name)).toEqual(['app']);
  });

  it('classic mode: the sidecar is the first container, with no restartPolicy', () => {
    const p = patched(pod(), injectorSettingsSchema.parse({ mode: 'classic' }));
    expect(p.spec.initContainers.map((c: { name: string }) => c.name)).toEqual(['meshlet-init']);
    expect(p.spec.containers[0].name).toBe('meshlet');
    expect(p.spec.containers[0].restartPolicy).toBeUndefined();
  });

  it('the init container has only NET_ADMIN and NET_RAW; the sidecar is non-root with nothing', () => {
    const p = patched(pod());
    const [init, sidecar] = p.spec.initContainers;
    expect(init.securityContext.capabilities).toEqual({ add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] });
    expect(init.securityContext).toMatchObject({ runAsUser: 0, runAsNonRoot: false, privileged: false });
    expect(sidecar.securityContext).toMatchObject({
      runAsUser: 4242,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it('excludes every app probe port (number, string number, named port) from the inbound redirect', () => {
    const p = pod(undefined, {
      containers: [
        {
          name: 'app',
          image: 'a',
          ports: [{ name: 'health', containerPort: 8081 }],
          readinessProbe: { httpGet: { path: '/r', port: 'health' } },
          livenessProbe: { tcpSocket: { port: '9000' } },
          startupProbe: { grpc: { port: 50051 } },
        },
      ],
    });
    const args = initArgs(p);
    expect(args[args.indexOf('--exclude-inbound-ports') + 1]).toBe('8081,9000,50051');
  });

  it('warns when a probe names a port the container does not declare', () => {
    const r = inject(pod(undefined, { containers: [{ name: 'app', image: 'a', readinessProbe: { httpGet: { port: 'nope' } } }] }), DEFAULT_SETTINGS);
    expect(r.action).toBe('inject');
    expect(r.warnings).toEqual([expect.stringContaining('readinessProbe port "nope" names no container port')]);
  });

  it('inbound-ports "" disables the inbound redirect; a list is normalised', () => {
    expect(initArgs(pod({ 'meshlet.io/inbound-ports': '' }))).toContain('');
    const args = initArgs(pod({ 'meshlet.io/inbound-ports': ' 9090 , 80,9090' }));
    expect(args[args.indexOf('--inbound-ports') + 1]).toBe('80,9090');
  });

  it.each([
    ['meshlet.io/inbound-ports', 'all'],
    ['meshlet.io/exclude-inbound-ports', '70000'],
    ['meshlet.io/exclude-outbound-ports', '22,x'],
    ['meshlet.io/exclude-outbound-cidrs', '10.0.0.0'],
    ['meshlet.io/proxy-cpu-limit', 'fast'],
    ['meshlet.io/log-level', 'loud'],
    ['meshlet.io/config-map', 'Not_A_Name'],
    ['meshlet.io/service', '-x'],
  ])('refuses a bad %s, naming it', (key, value) => {
    const r = inject(pod({ [key]: value }), DEFAULT_SETTINGS);
    expect(r).toMatchObject({ action: 'invalid', patch: [] });
    expect(r.status).toContain(`annotation ${key}: ${JSON.stringify(value)}`);
  });

  it('the service name comes from meshlet.io/service, else app.kubernetes.io/name, else app', () => {
    const env = (p: Pod) => patched(p).spec.initContainers[1].env as { name: string; value?: string }[];
    const name = (p: Pod) => env(p).find((e) => e.name === 'MESHLET_SERVICE_NAME')?.value;
    const labelled = (labels: Record<string, string>, annotations?: Record<string, string>) => {
      const p = pod(annotations);
      p.metadata.labels = labels;
      return p;
    };
    expect(name(labelled({ app: 'a', 'app.kubernetes.io/name': 'b' }, { 'meshlet.io/service': 'c' }))).toBe('c');
    expect(name(labelled({ app: 'a', 'app.kubernetes.io/name': 'b' }))).toBe('b');
    expect(name(labelled({ app: 'a' }))).toBe('a');
    expect(name(pod())).toBeUndefined();
    expect(env(pod()).map((e) => e.name)).toEqual(expect.arrayContaining(['MESHLET_POD_NAME', 'MESHLET_POD_NAMESPACE', 'MESHLET_SERVICE_ACCOUNT', 'MESHLET_POD_IP']));
  });

  it('keeps the app\'s own Prometheus annotations', () => {
    const p = patched(pod({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9100' }));
    expect(p.metadata.annotations['prometheus.io/port']).toBe('9100');
    expect(p.metadata.annotations['meshlet.io/status']).toBe('injected');
  });

  it('adds metadata when the pod has none, and escapes annotation keys (RFC 6901)', () => {
    const bare = { apiVersion: 'v1', kind: 'Pod', spec: { containers: [{ name: 'app', image: 'a' }] } };
    expect(patched(bare).metadata.annotations['meshlet.io/status']).toBe('injected');
    expect(escapePointer('a/b~c')).toBe('a~1b~0c');
  });

  it('never throws for odd shapes: containers not objects, probes not objects', () => {
    const odd = pod(undefined, { containers: [null, 'x', { name: 'app', readinessProbe: 'soon', ports: 'many' }], volumes: 'v' });
    expect(() => inject(odd, DEFAULT_SETTINGS)).not.toThrow();
  });
});
