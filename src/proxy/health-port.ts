// SPDX-License-Identifier: Apache-2.0
// The chain of the plaintext health listener (`mtls.inbound.healthListen`): answers grpc.health.v1 only, so Consul's
// agent and kubelet, which present no mesh certificate, can probe a strict-mTLS sidecar. Nothing reaches the app.

import { ProxyError } from '../errors.js';
import type { HealthService } from '../health/service.js';
import type { Logger } from '../telemetry/logger.js';
import { compose, type Handler } from './layer.js';
import { healthLayer } from './layers/health.js';
import { rescueLayer } from './layers/rescue.js';

export interface HealthPortDeps {
  readonly log: Logger;
  readonly health: HealthService;
}

/**
 * `rescue → health → refuse`: grpc.health.v1.Health/Check and /Watch are answered from the sidecar's health
 * service (the same answers as on the inbound port); any other call ends UNIMPLEMENTED with
 * `x-meshlet-error: ERR_HEALTH_PORT_ONLY`, as a server without that service would answer.
 */
export function healthPortHandler(deps: HealthPortDeps): Handler {
  return compose(
    // rescue is outermost: the refusal below becomes a Trailers-Only status.
    [rescueLayer({ log: deps.log }), healthLayer({ health: deps.health })],
    (call) =>
      Promise.reject(
        new ProxyError('ERR_HEALTH_PORT_ONLY', `${call.path} is not served on the health port (grpc.health.v1 only)`),
      ),
  );
}
