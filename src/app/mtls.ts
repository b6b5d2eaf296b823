// SPDX-License-Identifier: Apache-2.0
// Composition root, mTLS area: the TLS contexts that follow the certificate source, the inbound listener's TLS part
// (from `mtls.inbound.mode`) and the outbound pool's connector (from `mtls.outbound.mode`), with the expected
// SPIFFE IDs of each upstream endpoint. Built only with `mtls`.

import type { ReadinessCheck } from '../admin/server.js';
import type { BootstrapConfig } from '../config/schema.js';
import type { ConsulClient } from '../discovery/consul/client.js';
import type { Endpoint } from '../discovery/resolver.js';
import type { Connector } from '../h2/session-pool.js';
import type { InboundTls } from '../tls/accept.js';
import { createTlsConnector } from '../tls/connector.js';
import { createTlsContexts, type TlsContexts } from '../tls/contexts.js';
import type { CertSource } from '../tls/material.js';
import { createCertSource } from '../tls/source.js';
import type { Logger } from '../telemetry/logger.js';
import { PREFIX, type Metrics } from '../telemetry/metrics.js';

export interface AppMtls {
  readonly contexts: TlsContexts;
  /** The inbound listener's TLS part; undefined when `mtls.inbound.mode` is disabled. */
  readonly inboundTls: InboundTls | undefined;
  /** The outbound pool's connector; undefined when `mtls.outbound.mode` is plaintext. */
  readonly outboundConnector: Connector | undefined;
  /**
   * Records a change to the endpoints of a backend (discovery update: endpoints added or with new meta, addresses
   * gone), for the expected identities of their connections. O(changes).
   */
  updateEndpoints(backend: string, upserted: readonly Endpoint[], removed: readonly string[]): void;
  /** Start hook, before any listener: waits for the first material and builds its contexts. */
  start(): Promise<void>;
  /** Stop hook: stops following the source and closes it. */
  close(): void;
}

/**
 * The SPIFFE ID patterns `endpoint` of `backend` must present: `upstreams.<backend>.identities`, else the endpoint's
 * Consul service meta `spiffe-id`, else spiffe://<trustDomain>/svc/<backend>.
 */
export function expectedIdentities(config: BootstrapConfig, backend: string, endpoint: Endpoint | undefined): string[] {
  const configured = config.upstreams[backend]?.identities;
  if (configured !== undefined) return [...configured];
  const meta = endpoint?.meta['spiffe-id'];
  if (meta !== undefined && meta !== '') return [meta];
  return [`spiffe://${config.mtls?.trustDomain ?? 'meshlet.local'}/svc/${backend}`];
}

/** True when `mtls` puts TLS on either side (inbound not disabled, or outbound mtls). */
export function mtlsInUse(config: BootstrapConfig): boolean {
  const mtls = config.mtls;
  return mtls !== undefined && (mtls.inbound.mode !== 'disabled' || mtls.outbound.mode === 'mtls');
}

/** Wires mTLS from `config.mtls` and `source`. Throws when `mtls` needs certificates and `source` is undefined. */
export function createMtls(config: BootstrapConfig, source: CertSource | undefined, log: Logger): AppMtls | undefined {
  const mtls = config.mtls;
  if (mtls === undefined || !mtlsInUse(config)) return undefined;
  if (source === undefined) {
    throw new Error('mtls is configured but no certificate source was given (AppOptions.certSource)');
  }
  const tlog = log.child({ component: 'tls' });
  const contexts = createTlsContexts(source, {
    minVersion: mtls.minVersion,
    // gRPC-Web on the inbound listener: browsers and HTTP/1.1-only clients may negotiate http/1.1.
    http1: config.inbound?.grpcWeb?.enabled === true,
    onError: (generation, err) => tlog.error({ generation, err: err.message }, 'TLS contexts of a new generation failed; keeping the previous one'),
  });
  contexts.onSwap((g) => tlog.info({ generation: g.generation, identity: g.identity }, 'TLS contexts swapped: new handshakes use the new certificate'));
  // An address may serve several backends (static config): it must present an identity expected for any of them.
  const byAddress = new Map<string, Map<string, readonly string[]>>();
  const inboundTls: InboundTls | undefined =
    mtls.inbound.mode === 'disabled' ? undefined : { mode: mtls.inbound.mode, server: () => contexts.current().server };
  const outboundConnector =
    mtls.outbound.mode !== 'mtls'
      ? undefined
      : createTlsConnector({
          context: () => contexts.current(),
          check: (address) => {
            const patterns = new Set<string>();
            for (const p of byAddress.get(address)?.values() ?? []) for (const x of p) patterns.add(x);
            return { kind: 'spiffe', patterns: [...patterns] };
          },
          onIdentityMismatch: (upstream, expected, got) =>
            tlog.warn({ upstream, expected, got }, 'upstream refused: its SPIFFE ID is not one expected for it'),
        });
  return {
    contexts,
    inboundTls,
    outboundConnector,
    updateEndpoints(backend, upserted, removed) {
      for (const address of removed) {
        const backends = byAddress.get(address);
        if (backends === undefined) continue;
        backends.delete(backend);
        if (backends.size === 0) byAddress.delete(address);
      }
      for (const e of upserted) {
        let backends = byAddress.get(e.address);
        if (backends === undefined) byAddress.set(e.address, (backends = new Map()));
        backends.set(backend, expectedIdentities(config, backend, e));
      }
    },
    async start() {
      const g = await contexts.start();
      tlog.info({ source: source.kind, generation: g.generation, identity: g.identity }, 'TLS material loaded');
    },
    close() {
      contexts.close();
      source.close();
    },
  };
}

/** What {@link certSourceFromConfig} needs besides the config. */
export interface CertSourceWiring {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** The process env, for the Kubernetes form of the identity (MESHLET_POD_NAMESPACE, MESHLET_SERVICE_ACCOUNT). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The Consul agent client, for `mtls.source.consul`. */
  readonly consul: ConsulClient | undefined;
}

/**
 * The certificate source `mtls.source` names, with its reloads counted in `meshlet_tls_cert_reloads_total`;
 * undefined without `mtls`. Throws, naming the config path, when the source cannot work with this config.
 */
export function certSourceFromConfig(config: BootstrapConfig, deps: CertSourceWiring): CertSource | undefined {
  if (config.mtls === undefined || !mtlsInUse(config)) return undefined;
  const reloads = deps.metrics.counter({
    name: `${PREFIX}tls_cert_reloads_total`,
    help: 'Certificate reloads and renewals by result: applied, rejected (the last good certificate stays), unchanged.',
    labelNames: ['result'] as const,
  });
  return createCertSource(config.mtls, {
    log: deps.log.child({ component: 'tls' }),
    serviceName: config.service.name,
    env: deps.env,
    consul: deps.consul,
    onReload: (result) => reloads.inc({ result }),
  });
}

/**
 * Ready only while a certificate is held that is valid now: /ready and the health answers fail before the first
 * one loads and once the one held has expired (a source that cannot renew), so peers stop sending calls that
 * would fail their handshakes.
 */
export function certificateValid(source: CertSource, now: () => number = Date.now): ReadinessCheck {
  return () => {
    const m = source.current();
    if (m === undefined) return 'no certificate loaded yet';
    const t = now();
    if (t >= m.notAfter.getTime()) return `certificate ${m.identity} expired at ${m.notAfter.toISOString()}`;
    if (t < m.notBefore.getTime()) return `certificate ${m.identity} is not valid before ${m.notBefore.toISOString()}`;
    return undefined;
  };
}

/**
 * The certificate gauges, read at scrape time: when the leaf expires (alert on
 * `meshlet_tls_cert_expiration_timestamp_seconds - time() < 3600`), when it became valid, and its generation.
 */
export function addCertMetrics(metrics: Metrics, source: CertSource): void {
  const sample = (value: (m: NonNullable<ReturnType<CertSource['current']>>) => number) => () => {
    const m = source.current();
    return m === undefined ? [] : [{ labels: { identity: m.identity }, value: value(m) }];
  };
  metrics.collected(
    `${PREFIX}tls_cert_expiration_timestamp_seconds`,
    "Unix time at which this sidecar's leaf certificate expires (notAfter).",
    'gauge',
    sample((m) => m.notAfter.getTime() / 1000),
  );
  metrics.collected(
    `${PREFIX}tls_cert_not_before_timestamp_seconds`,
    "Unix time from which this sidecar's leaf certificate is valid (notBefore).",
    'gauge',
    sample((m) => m.notBefore.getTime() / 1000),
  );
  metrics.collected(
    `${PREFIX}tls_cert_generation`,
    'Generation of the certificate material in use: 1 at start, +1 per rotation of the leaf or the trust bundle.',
    'gauge',
    sample((m) => m.generation),
  );
}
