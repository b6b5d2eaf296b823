// SPDX-License-Identifier: Apache-2.0
// local-app (inbound): every inbound call goes to the local application's address; the backend is the local
// service. An attempt that certainly never reached the app (REFUSED_STREAM, a GOAWAY that raced the stream, e.g.
// from grpc.max_connection_age) is sent again on a fresh session while the body is still replayable: always safe,
// and what keeps an app's connection recycling invisible to callers.

import { toProxyError } from '../../errors.js';
import type { ProxyCall, ProxyReply } from '../call.js';
import type { Handler, Layer } from '../layer.js';

/** Extra attempts for failures that never reached the app; a connect failure is not retried (the app is down). */
const MAX_SAFE_RETRIES = 2;

export function localAppLayer(deps: { readonly service: string; readonly appAddress: string }): Layer {
  const { service, appAddress } = deps;
  return (next: Handler) => (call: ProxyCall) => {
    call.backend = service;
    call.endpoint = appAddress;
    return next(call).then(undefined, (err: unknown) => resend(next, call, err, 0));
  };
}

function resend(next: Handler, call: ProxyCall, err: unknown, retries: number): Promise<ProxyReply> {
  const e = toProxyError(err);
  const refusedAfterConnect = e.code === 'ERR_UPSTREAM_REFUSED_STREAM' || e.code === 'ERR_UPSTREAM_GOAWAY';
  if (!refusedAfterConnect || !e.neverReachedApp || retries >= MAX_SAFE_RETRIES || call.cancelled !== undefined || !call.body.replayable) {
    return Promise.reject(e);
  }
  return next(call).then(undefined, (again: unknown) => resend(next, call, again, retries + 1));
}
