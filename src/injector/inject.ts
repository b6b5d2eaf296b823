// SPDX-License-Identifier: Apache-2.0
// The injector's core: pod + settings → RFC 6902 JSON Patch. A leaf (pure, no I/O): the webhook only decodes the
// review, calls inject() and encodes the answer, so the golden tests (test/injector/) pin every byte it adds.
//
// What an injected pod gets (docs/kubernetes.md):
// 1. `meshlet-init`, first of the init containers: `meshlet iptables ...` (the redirect contract), root with only
//    NET_ADMIN and NET_RAW.
// 2. `meshlet`, the sidecar: a native sidecar (second init container, restartPolicy Always) or, in classic mode,
//    the first container. Non-root (the image's UID), read-only root filesystem, no capabilities, RuntimeDefault
//    seccomp; startup and liveness probes on /live, readiness on /ready of the admin port; downward-API env.
// 3. Volumes: the sidecar config (a ConfigMap) and, when configured, the mTLS certificate Secret.
// 4. Annotations: meshlet.io/status and, unless the pod has its own, the Prometheus scrape annotations.
// The app's probes keep working: kubelet probes the pod IP on the app's ports, so every port an app probe
// targets is excluded from the inbound redirect (rather than rewriting the probes to go through the sidecar).

import { ANNOTATION, CERTS_DIR, CERTS_VOLUME, CONFIG_DIR, CONFIG_VOLUME, INIT_NAME, SIDECAR_NAME } from './annotations.js';
import { decide, isObject, list, objectAt, type JsonObject } from './decide.js';
import { QUANTITY, type InjectorSettings } from './settings.js';

/** One RFC 6902 operation; the injector only adds. */
export interface PatchOperation {
  readonly op: 'add';
  readonly path: string;
  readonly value: unknown;
}

/** What inject() decided, the patch that carries it out (empty for `unchanged` and `invalid`) and warnings. */
export interface InjectResult {
  readonly action: 'inject' | 'skip' | 'unchanged' | 'invalid';
  /** The value written to meshlet.io/status (`injected` or `skipped: <reason>`), or why nothing changed. */
  readonly status: string;
  readonly patch: readonly PatchOperation[];
  /** Shown to the user by kubectl (AdmissionResponse.warnings). */
  readonly warnings: readonly string[];
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SERVICE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9\-_.]*$/;
const CIDR = /^(\d{1,3}(\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]+\/\d{1,3})$/;

/** Decides for `pod` and returns the patch that injects it (or records why not). Never throws for any pod object. */
export function inject(pod: JsonObject, settings: InjectorSettings): InjectResult {
  const decision = decide(pod);
  if (decision.action === 'unchanged' || decision.action === 'invalid') {
    return { action: decision.action, status: decision.reason, patch: [], warnings: [] };
  }
  if (decision.action === 'skip') {
    const status = `skipped: ${decision.reason}`;
    return { action: 'skip', status, patch: annotationOps(pod, { [ANNOTATION.status]: status }), warnings: [] };
  }
  const overrides = readOverrides(objectAt(pod, 'metadata', 'annotations'), settings);
  if (typeof overrides === 'string') return { action: 'invalid', status: overrides, patch: [], warnings: [] };
  const warnings: string[] = [];
  const probePorts = appProbePorts(objectAt(pod, 'spec'), warnings);
  const init = initContainer(settings, overrides, probePorts);
  const sidecar = sidecarContainer(pod, settings, overrides);
  const spec = objectAt(pod, 'spec');
  const ops: PatchOperation[] = [];
  const initContainers = settings.mode === 'native' ? [init, { ...sidecar, restartPolicy: 'Always' }] : [init];
  // Order matters: the redirect is in place before any other container runs, and a native sidecar starts before
  // the pod's own init containers, whose outbound calls the redirect already sends to it.
  if (Array.isArray(spec['initContainers'])) {
    initContainers.forEach((c, i) => ops.push({ op: 'add', path: `/spec/initContainers/${i}`, value: c }));
  } else {
    ops.push({ op: 'add', path: '/spec/initContainers', value: initContainers });
  }
  if (settings.mode === 'classic') ops.push({ op: 'add', path: '/spec/containers/0', value: sidecar });
  const volumes = podVolumes(settings, overrides);
  if (Array.isArray(spec['volumes'])) for (const v of volumes) ops.push({ op: 'add', path: '/spec/volumes/-', value: v });
  else ops.push({ op: 'add', path: '/spec/volumes', value: volumes });
  const annotations: Record<string, string> = { [ANNOTATION.status]: 'injected' };
  const existing = objectAt(pod, 'metadata', 'annotations');
  // An app that exposes its own metrics keeps its scrape annotations; meshlet's then need a PodMonitor.
  if (settings.prometheusScrape && existing['prometheus.io/scrape'] === undefined) {
    Object.assign(annotations, {
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(settings.ports.admin),
      'prometheus.io/path': '/metrics',
    });
  }
  ops.push(...annotationOps(pod, annotations));
  return { action: 'inject', status: 'injected', patch: ops, warnings };
}

/** The per-pod values after annotations override settings. */
interface Overrides {
  inboundPorts: string;
  excludeInboundPorts: number[];
  excludeOutboundPorts: number[];
  excludeOutboundCidrs: string[];
  resources: { cpuRequest: string; memoryRequest: string; cpuLimit: string | undefined; memoryLimit: string | undefined };
  logLevel: string;
  configMap: string;
  service: string | undefined;
}

/** Reads the meshlet.io/* overrides; returns the first bad one as a message naming the annotation. */
function readOverrides(annotations: JsonObject, settings: InjectorSettings): Overrides | string {
  const text = (key: string): string | undefined => {
    const v = annotations[key];
    return typeof v === 'string' ? v.trim() : undefined;
  };
  const bad = (key: string, why: string): string => `annotation ${key}: ${JSON.stringify(annotations[key])}: ${why}`;
  const ports = (key: string): number[] | string => {
    const v = text(key);
    if (v === undefined || v === '') return [];
    const parts = v.split(',').map((p) => p.trim());
    if (!parts.every((p) => /^\d{1,5}$/.test(p) && Number(p) >= 1 && Number(p) <= 65_535)) {
      return bad(key, 'expected a comma-separated list of ports 1-65535');
    }
    return [...new Set(parts.map(Number))].sort((a, b) => a - b);
  };
  const inbound = text(ANNOTATION.inboundPorts) ?? '*';
  if (inbound !== '*' && inbound !== '' && typeof ports(ANNOTATION.inboundPorts) === 'string') {
    return bad(ANNOTATION.inboundPorts, "expected '*', '' (no inbound redirect) or a comma-separated list of ports");
  }
  const excludeIn = ports(ANNOTATION.excludeInboundPorts);
  if (typeof excludeIn === 'string') return excludeIn;
  const excludeOut = ports(ANNOTATION.excludeOutboundPorts);
  if (typeof excludeOut === 'string') return excludeOut;
  const cidrsText = text(ANNOTATION.excludeOutboundCidrs);
  const cidrs = cidrsText === undefined || cidrsText === '' ? [] : cidrsText.split(',').map((c) => c.trim());
  if (!cidrs.every((c) => CIDR.test(c))) return bad(ANNOTATION.excludeOutboundCidrs, 'expected a comma-separated list of CIDRs such as 10.0.0.0/8');
  const quantity = (key: string, fallback: string | undefined): string | undefined => {
    const v = text(key);
    return v === undefined ? fallback : v;
  };
  const resources = {
    cpuRequest: quantity(ANNOTATION.cpuRequest, settings.resources.cpuRequest) as string,
    memoryRequest: quantity(ANNOTATION.memoryRequest, settings.resources.memoryRequest) as string,
    cpuLimit: quantity(ANNOTATION.cpuLimit, settings.resources.cpuLimit),
    memoryLimit: quantity(ANNOTATION.memoryLimit, settings.resources.memoryLimit),
  };
  for (const key of [ANNOTATION.cpuRequest, ANNOTATION.memoryRequest, ANNOTATION.cpuLimit, ANNOTATION.memoryLimit]) {
    const v = text(key);
    if (v !== undefined && !QUANTITY.test(v)) return bad(key, 'expected a Kubernetes quantity such as 100m or 128Mi');
  }
  const logLevel = text(ANNOTATION.logLevel) ?? settings.logLevel;
  if (!LOG_LEVELS.includes(logLevel)) return bad(ANNOTATION.logLevel, `expected one of ${LOG_LEVELS.join(', ')}`);
  const configMap = text(ANNOTATION.configMap) ?? settings.configMap;
  if (!DNS_LABEL.test(configMap) || configMap.length > 253) return bad(ANNOTATION.configMap, 'expected a ConfigMap name (lower-case DNS subdomain)');
  const service = text(ANNOTATION.service);
  if (service !== undefined && !SERVICE_NAME.test(service)) return bad(ANNOTATION.service, 'expected letters, digits, - _ . starting with a letter or digit');
  return {
    inboundPorts: inbound === '*' || inbound === '' ? inbound : (ports(ANNOTATION.inboundPorts) as number[]).join(','),
    excludeInboundPorts: excludeIn,
    excludeOutboundPorts: excludeOut,
    excludeOutboundCidrs: [...new Set([...settings.excludeOutboundCidrs, ...cidrs])],
    resources,
    logLevel,
    configMap,
    service,
  };
}

/**
 * The ports kubelet probes (httpGet, tcpSocket, grpc) on the app's containers; a named port resolves through the
 * container's ports. An unresolvable name is a warning (the probe then goes through the redirect).
 */
function appProbePorts(spec: JsonObject, warnings: string[]): number[] {
  const found = new Set<number>();
  const containers = [...list(spec['initContainers']), ...list(spec['containers'])].filter(isObject);
  for (const c of containers) {
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const p = objectAt(c, probe);
      for (const handler of ['httpGet', 'tcpSocket', 'grpc']) {
        const port = objectAt(p, handler)['port'];
        if (typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65_535) found.add(port);
        else if (typeof port === 'string' && /^\d+$/.test(port)) found.add(Number(port));
        else if (typeof port === 'string') {
          const named = list(c['ports']).filter(isObject).find((cp) => cp['name'] === port);
          if (named !== undefined && typeof named['containerPort'] === 'number') found.add(named['containerPort']);
          else warnings.push(`meshlet: container ${String(c['name'])}: ${probe} port "${port}" names no container port; the probe goes through the inbound redirect`);
        }
      }
    }
  }
  return [...found].sort((a, b) => a - b);
}

/** The redirect init container: `meshlet iptables` with the flags of the redirect contract. */
function initContainer(settings: InjectorSettings, o: Overrides, probePorts: number[]): JsonObject {
  const args = [
    'iptables',
    '--proxy-uid', String(settings.proxyUid),
    '--inbound-port', String(settings.ports.inbound),
    '--outbound-port', String(settings.ports.outbound),
    '--admin-port', String(settings.ports.admin),
    '--inbound-ports', o.inboundPorts,
  ];
  const excludeIn = [...new Set([...o.excludeInboundPorts, ...probePorts])].sort((a, b) => a - b);
  if (excludeIn.length > 0) args.push('--exclude-inbound-ports', excludeIn.join(','));
  if (o.excludeOutboundPorts.length > 0) args.push('--exclude-outbound-ports', o.excludeOutboundPorts.join(','));
  if (o.excludeOutboundCidrs.length > 0) args.push('--exclude-outbound-cidrs', o.excludeOutboundCidrs.join(','));
  return {
    name: INIT_NAME,
    image: settings.image,
    imagePullPolicy: settings.imagePullPolicy,
    args,
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
    // iptables needs root with NET_ADMIN (and NET_RAW for some matches) and writes /run/xtables.lock: a
    // writable root filesystem, but nothing more.
    securityContext: {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
}

/** The sidecar container (without restartPolicy; the native mode adds it). */
function sidecarContainer(pod: JsonObject, settings: InjectorSettings, o: Overrides): JsonObject {
  const admin = settings.ports.admin;
  const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  const labels = objectAt(pod, 'metadata', 'labels');
  const labelName = [labels['app.kubernetes.io/name'], labels['app']].find(
    (v): v is string => typeof v === 'string' && SERVICE_NAME.test(v),
  );
  const service = o.service ?? labelName;
  const env: JsonObject[] = [
    fieldEnv('MESHLET_POD_NAME', 'metadata.name'),
    fieldEnv('MESHLET_POD_NAMESPACE', 'metadata.namespace'),
    fieldEnv('MESHLET_SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    fieldEnv('MESHLET_POD_IP', 'status.podIP'),
    // kubelet probes and Prometheus reach the admin port on the pod IP; its mutations stay loopback-only.
    { name: 'MESHLET_ADMIN_LISTEN', value: `0.0.0.0:${admin}` },
    { name: 'MESHLET_LOG_LEVEL', value: o.logLevel },
    ...(service !== undefined ? [{ name: 'MESHLET_SERVICE_NAME', value: service }] : []),
  ];
  const requests = { cpu: o.resources.cpuRequest, memory: o.resources.memoryRequest };
  const limits: Record<string, string> = {};
  if (o.resources.cpuLimit !== undefined) limits['cpu'] = o.resources.cpuLimit;
  if (o.resources.memoryLimit !== undefined) limits['memory'] = o.resources.memoryLimit;
  const httpProbe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: admin },
    periodSeconds,
    timeoutSeconds: 1,
    failureThreshold,
  });
  return {
    name: SIDECAR_NAME,
    image: settings.image,
    imagePullPolicy: settings.imagePullPolicy,
    args: ['run', '--config', `${CONFIG_DIR}/sidecar.yaml`],
    ports: [
      { name: 'meshlet-inbound', containerPort: settings.ports.inbound, protocol: 'TCP' },
      { name: 'meshlet-admin', containerPort: admin, protocol: 'TCP' },
    ],
    env,
    resources: Object.keys(limits).length > 0 ? { requests, limits } : { requests },
    // startup and liveness ask /live (the process serves); /ready also needs the app and the first discovery
    // result, and a native sidecar's startup probe gates the app's start, so it must not wait for the app.
    startupProbe: httpProbe('/live', 1, 30),
    readinessProbe: httpProbe('/ready', 5, 3),
    livenessProbe: httpProbe('/live', 10, 3),
    volumeMounts: [
      { name: CONFIG_VOLUME, mountPath: CONFIG_DIR, readOnly: true },
      ...(settings.certSecret !== undefined ? [{ name: CERTS_VOLUME, mountPath: CERTS_DIR, readOnly: true }] : []),
    ],
    securityContext: {
      runAsUser: settings.proxyUid,
      runAsGroup: settings.proxyUid,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
}

function podVolumes(settings: InjectorSettings, o: Overrides): JsonObject[] {
  return [
    { name: CONFIG_VOLUME, configMap: { name: o.configMap } },
    ...(settings.certSecret !== undefined ? [{ name: CERTS_VOLUME, secret: { secretName: settings.certSecret } }] : []),
  ];
}

/** Adds `values` to the pod's annotations: one add per key, or the whole map when the pod has none. */
function annotationOps(pod: JsonObject, values: Record<string, string>): PatchOperation[] {
  const metadata = objectAt(pod, 'metadata');
  if (!isObject(pod['metadata'])) return [{ op: 'add', path: '/metadata', value: { annotations: values } }];
  if (!isObject(metadata['annotations'])) return [{ op: 'add', path: '/metadata/annotations', value: values }];
  return Object.entries(values).map(([k, v]) => ({ op: 'add', path: `/metadata/annotations/${escapePointer(k)}`, value: v }));
}

/** RFC 6901: `~` → `~0`, `/` → `~1`. */
export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}
