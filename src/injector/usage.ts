// SPDX-License-Identifier: Apache-2.0
// The usage text of `meshlet injector`, apart from the command so `meshlet --help` prints it without loading it.

/** Usage of `meshlet injector`, also shown by `meshlet --help`. */
export const INJECTOR_USAGE = `  meshlet injector --listen HOST:PORT --tls-cert F --tls-key F [--config FILE] [--admin HOST:PORT] [--log-level L]
                                      The Kubernetes sidecar-injector webhook (HTTPS, AdmissionReview v1):
                                      injects the sidecar described by FILE (docs/kubernetes.md); the
                                      certificate files are reloaded when they change. Admin (default
                                      127.0.0.1:6192): /live /ready /metrics.`;
