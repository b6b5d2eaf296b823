// SPDX-License-Identifier: Apache-2.0
// rescue: the outermost layer. Any rejection below becomes a Trailers-Only reply with grpc-status, grpc-message and
// x-meshlet-error, so no failure ever reaches the client as a hang or a bare reset. Bugs (ERR_INTERNAL) are logged
// with their stack; causes never go on the wire, and on the inbound side neither do addresses (respond.ts).

import { toProxyError } from '../../errors.js';
import type { Logger } from '../../telemetry/logger.js';
import type { ProxyCall, ProxyReply } from '../call.js';
import type { Layer } from '../layer.js';
import { errorReply } from '../respond.js';

export function rescueLayer(deps: { readonly log: Logger }): Layer {
  const { log } = deps;
  return (next) => (call: ProxyCall) =>
    next(call).then(undefined, (err: unknown): ProxyReply => {
      const e = toProxyError(err);
      if (e.code === 'ERR_INTERNAL') {
        log.error({ err: e.cause ?? e, path: call.path, direction: call.direction }, 'internal error on the request path');
      }
      return errorReply(e, call.direction);
    });
}
