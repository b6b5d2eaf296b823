// SPDX-License-Identifier: Apache-2.0
// The request headers a call sends upstream (the received block with its layers' edits), as an object for asserts.

import { headerBlockOf } from '../../src/h2/headers.js';
import type { ProxyCall } from '../../src/proxy/call.js';

/** Name → value (repeated names: the values in order) of what forward would send for `call` now. */
export function upstreamHeaders(call: ProxyCall): Record<string, string | string[]> {
  const { list } = headerBlockOf(call.upstreamHeaders());
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    const value = list[i + 1] as string;
    const had = out[name];
    out[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return out;
}
