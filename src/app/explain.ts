// SPDX-License-Identifier: Apache-2.0
// `meshlet explain`'s view of the outbound chain: every layer of proxy/outbound.ts's OUTBOUND_LAYERS, in or out
// of the chain by the same switches the app wires with (FEATURE_SETTINGS), so explain prints the chain `run` builds.

import type { OriginOf } from '../config/origin.js';
import type { BootstrapConfig } from '../config/schema.js';
import type { ExplainLayer } from '../policy/explain.js';
import { OUTBOUND_LAYERS } from '../proxy/outbound.js';
import { FEATURE_SETTINGS } from './telemetry.js';

/**
 * The outbound layers for `bootstrap` (env overrides applied), outermost first, each optional one with its switch
 * and where that came from. Without a bootstrap the optional layers are unknown (`on: undefined`).
 */
export function outboundExplainLayers(bootstrap: { config: BootstrapConfig; originOf: OriginOf } | undefined): ExplainLayer[] {
  return OUTBOUND_LAYERS.map((l): ExplainLayer => {
    if (l.feature === undefined) return { name: l.name, on: true };
    const setting = FEATURE_SETTINGS[l.feature];
    const path = setting.path.join('.');
    if (bootstrap === undefined) return { name: l.name, on: undefined, setting: { path, value: '?', origin: 'no bootstrap given' } };
    return {
      name: l.name,
      on: setting.on(bootstrap.config),
      setting: { path, value: setting.value(bootstrap.config), origin: bootstrap.originOf(setting.path) },
    };
  });
}
