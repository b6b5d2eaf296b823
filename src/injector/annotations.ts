// SPDX-License-Identifier: Apache-2.0
// The pod annotations the injector reads (per-pod overrides) and writes (status), one table so the code, the
// docs (docs/kubernetes.md) and the redirect contract name them once. A leaf.

export const ANNOTATION = {
  inject: 'meshlet.io/inject',
  status: 'meshlet.io/status',
  inboundPorts: 'meshlet.io/inbound-ports',
  excludeInboundPorts: 'meshlet.io/exclude-inbound-ports',
  excludeOutboundPorts: 'meshlet.io/exclude-outbound-ports',
  excludeOutboundCidrs: 'meshlet.io/exclude-outbound-cidrs',
  cpuRequest: 'meshlet.io/proxy-cpu-request',
  memoryRequest: 'meshlet.io/proxy-memory-request',
  cpuLimit: 'meshlet.io/proxy-cpu-limit',
  memoryLimit: 'meshlet.io/proxy-memory-limit',
  logLevel: 'meshlet.io/log-level',
  configMap: 'meshlet.io/config-map',
  service: 'meshlet.io/service',
} as const;

/** The namespace label the webhook's namespaceSelector matches. */
export const NAMESPACE_LABEL = 'meshlet.io/inject';
export const NAMESPACE_LABEL_VALUE = 'enabled';

/** Names of what the injector adds; a pod that already has either container was injected before. */
export const SIDECAR_NAME = 'meshlet';
export const INIT_NAME = 'meshlet-init';
export const CONFIG_VOLUME = 'meshlet-config';
export const CERTS_VOLUME = 'meshlet-certs';
export const CONFIG_DIR = '/etc/meshlet';
export const CERTS_DIR = '/var/run/meshlet/certs';
