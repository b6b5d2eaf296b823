// SPDX-License-Identifier: Apache-2.0
// Composition root, mTLS area: the TLS contexts that follow the certificate source, the inbound listener's TLS part
// (from `mtls.inbound.mode`) and the outbound pool's connector (from `mtls.outbound.mode`), with the expected
// SPIFFE IDs of each upstream endpoint. Built only with `mtls`.

import type { BootstrapConfig } from '../config/schema.js';
import type { Endpoint } from '../discovery/resolver.js';
import type { Connector } from '../h2/session-pool.js';
import type { InboundTls } from '../tls/accept.js';
import { createTlsConnector } from '../tls/connector.js';
import { createTlsContexts, type TlsContexts } from '../tls/contexts.js';
import type { CertSource } from '../tls/material.js';
import type { Logger } from '../telemetry/logger.js';

export interface AppMtls {
  readonly contexts: TlsContexts;
  /** The inbound listener's TLS part; undefined when `mtls.inbound.mode` is disabled. */
  readonly inboundTls: InboundTls | undefined;
  /** The outbound pool's connector; undefined when `mtls.outbound.mode` is plaintext. */
  readonly outboundConnector: Connector | undefined;
  /** Records the endpoints of a backend (discovery update), for the expected identities of its connections. */
  setEndpoints(backend: string, endpoints: readonly Endpoint[]): void;
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

/** Wires mTLS from `config.mtls` and `source`. Throws when `mtls` needs certificates and `source` is undefined. */
export function createMtls(config: BootstrapConfig, source: CertSource | undefined, log: Logger): AppMtls | undefined {
  const mtls = config.mtls;
  if (mtls === undefined) return undefined;
  const usesTls = mtls.inbound.mode !== 'disabled' || mtls.outbound.mode === 'mtls';
  if (!usesTls) return undefined;
  if (source === undefined) {
    throw new Error('mtls is configured but no certificate source was given (AppOptions.certSource)');
  }
  const tlog = log.child({ component: 'tls' });
  const contexts = createTlsContexts(source, {
    minVersion: mtls.minVersion,
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
    setEndpoints(backend, endpoints) {
      for (const [address, backends] of byAddress) {
        backends.delete(backend);
        if (backends.size === 0) byAddress.delete(address);
      }
      for (const e of endpoints) {
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
