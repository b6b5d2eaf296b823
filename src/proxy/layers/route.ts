// SPDX-License-Identifier: Apache-2.0
// route (outbound): names the backend of a call from its :authority host (port stripped), the service name the app
// dialled.

import { ProxyError } from '../../errors.js';
import type { ProxyCall } from '../call.js';
import type { Layer } from '../layer.js';

/** The backend name for an authority: `user-service:4140` → `user-service`, `[::1]:80` → `::1`. */
export function backendFromAuthority(authority: string): string {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    return end > 0 ? authority.slice(1, end) : authority;
  }
  const colon = authority.lastIndexOf(':');
  return colon >= 0 ? authority.slice(0, colon) : authority;
}

export function routeLayer(): Layer {
  return (next) => (call: ProxyCall) => {
    if (call.authority === '') {
      return Promise.reject(new ProxyError('ERR_BAD_REQUEST', 'outbound call has no :authority to route by', { neverReachedApp: true }));
    }
    call.backend = backendFromAuthority(call.authority);
    return next(call);
  };
}
