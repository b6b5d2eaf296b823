// SPDX-License-Identifier: Apache-2.0
// Picks and builds the certificate source the bootstrap's `mtls.source` names (files, ca or consul), with this
// sidecar's SPIFFE ID derived where the source needs it. Called once by app wiring; the sources live in sources/.

import type { MtlsConfig } from '../config/mtls-schema.js';
import type { ConsulClient } from '../discovery/consul/client.js';
import type { ReloadResult } from '../config/reload-result.js';
import type { Logger } from '../telemetry/logger.js';
import { deriveSpiffeId } from '../spiffe/identity.js';
import type { CertSource } from './material.js';
import type { RenewClock } from './renew.js';
import { createCaSource } from './sources/ca.js';
import { createConsulSource } from './sources/consul.js';
import { createFilesSource } from './sources/files.js';

/** What {@link createCertSource} needs besides the `mtls` section. */
export interface CertSourceDeps {
  readonly log: Logger;
  /** `service.name`: the `/svc/<name>` identity and the default Consul service. */
  readonly serviceName?: string | undefined;
  /** The process env (MESHLET_POD_NAMESPACE, MESHLET_SERVICE_ACCOUNT); tests pass their own. Default: none. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The app's client for the `consul` section's agent; required by `source.consul`. */
  readonly consul?: ConsulClient | undefined;
  /** Outcome of each reload/renewal attempt of the files and consul sources (metrics). */
  readonly onReload?: (result: ReloadResult) => void;
  /** Timers and wall clock of the ca and consul sources. Default: Date.now and unref'd Node timers. */
  readonly clock?: RenewClock;
}

/**
 * Builds (does not start) the source `mtls.source` selects. Throws, naming the config path, when the choice cannot
 * work: no identity can be derived for `ca`, or `consul` without a Consul client or a service name.
 */
export function createCertSource(mtls: MtlsConfig, deps: CertSourceDeps): CertSource {
  const { files, ca, consul } = mtls.source;
  if (files !== undefined) {
    return createFilesSource({
      certFile: files.certFile,
      keyFile: files.keyFile,
      trustBundleFile: files.trustBundleFile,
      reloadDebounceMs: files.reloadDebounceMs,
      ...(mtls.identity !== undefined && { expectedIdentity: mtls.identity }),
      log: deps.log,
      ...(deps.onReload !== undefined && { onReload: deps.onReload }),
    });
  }
  if (ca !== undefined) {
    let spiffeId: string;
    try {
      spiffeId = deriveSpiffeId({
        trustDomain: mtls.trustDomain,
        identity: mtls.identity,
        kubernetes: mtls.kubernetes,
        serviceName: deps.serviceName,
        env: deps.env ?? {},
      }).id;
    } catch (err) {
      throw new Error(`mtls.source.ca: ${(err as Error).message}`, { cause: err });
    }
    return createCaSource({
      dir: ca.dir,
      spiffeId,
      leafTtlMs: ca.leafTtlMs,
      keyType: ca.keyType,
      rotateAtFraction: mtls.rotateAtFraction,
      log: deps.log,
      ...(deps.clock !== undefined && { clock: deps.clock }),
    });
  }
  if (consul !== undefined) {
    if (deps.consul === undefined) {
      throw new Error('mtls.source.consul: needs the `consul` section (the agent to ask), which is not configured');
    }
    const service = consul.service ?? deps.serviceName;
    if (service === undefined || service === '') {
      throw new Error('mtls.source.consul: set mtls.source.consul.service or service.name (whose leaf to request)');
    }
    return createConsulSource({
      client: deps.consul,
      service,
      log: deps.log,
      ...(deps.onReload !== undefined && { onReload: deps.onReload }),
      ...(deps.clock !== undefined && { clock: deps.clock }),
    });
  }
  // The schema's refine guarantees exactly one source; reaching here is a schema bug.
  throw new Error('mtls.source: no certificate source configured (expected one of files, ca, consul)');
}
