// SPDX-License-Identifier: Apache-2.0
// local-app (inbound): every inbound call goes to the local application's address; the backend is the local service.

import type { ProxyCall } from '../call.js';
import type { Layer } from '../layer.js';

export function localAppLayer(deps: { readonly service: string; readonly appAddress: string }): Layer {
  const { service, appAddress } = deps;
  return (next) => (call: ProxyCall) => {
    call.backend = service;
    call.endpoint = appAddress;
    return next(call);
  };
}
