// SPDX-License-Identifier: Apache-2.0
// deadline: starts the call's deadline from the client's grpc-timeout (PROTOCOL-HTTP2.md). When it expires the call
// is cancelled (upstream stream reset) and the client gets DEADLINE_EXCEEDED. forward.ts re-emits the remaining
// time upstream. A malformed grpc-timeout is rejected with INTERNAL, as grpc-js servers do.

import { ProxyError } from '../../errors.js';
import type { ProxyCall } from '../call.js';
import { Status } from '../../grpc/status.js';
import { parseGrpcTimeout } from '../../grpc/timeout.js';
import type { Layer } from '../layer.js';

const expired = (): ProxyError => new ProxyError('ERR_DEADLINE_EXCEEDED', 'Deadline exceeded (meshlet)');

export function deadlineLayer(): Layer {
  return (next) => (call: ProxyCall) => {
    const raw = call.headers['grpc-timeout'];
    if (raw !== undefined) {
      const ms = typeof raw === 'string' ? parseGrpcTimeout(raw) : undefined;
      if (ms === undefined) {
        // grpc-js and grpc-go servers fail such calls rather than ignore the header; so do we.
        return Promise.reject(
          new ProxyError('ERR_BAD_REQUEST', `invalid grpc-timeout header "${String(raw)}"`, {
            grpcStatus: Status.INTERNAL,
            neverReachedApp: true,
          }),
        );
      }
      call.tightenDeadline(call.startMs + ms, performance.now(), expired);
      if (call.cancelled !== undefined) return Promise.reject(call.cancelled);
    }
    return next(call);
  };
}
