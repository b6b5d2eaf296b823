// SPDX-License-Identifier: Apache-2.0
// Which sidecar configs the demo runs: static endpoints by default, Consul registration and discovery when
// CONSUL_HTTP_ADDR is set (the variable also reaches the meshlet children, which read the agent address from it).

import { fromRoot } from '../services/shared/project-root.js';

/** The two config variants under examples/demo/config/. */
export type DemoMode = 'static' | 'consul';

/** The sidecar config files of one variant. */
export interface DemoConfigs {
  mode: DemoMode;
  userSidecar: string;
  orderSidecar: string;
}

/** `consul` when CONSUL_HTTP_ADDR is set and non-empty, else `static`. */
export function demoMode(env: NodeJS.ProcessEnv): DemoMode {
  return env.CONSUL_HTTP_ADDR ? 'consul' : 'static';
}

/** Absolute paths of the sidecar configs for `mode`. */
export function demoConfigs(mode: DemoMode): DemoConfigs {
  const file = (name: string) => fromRoot('examples', 'demo', 'config', mode, `${name}.yaml`);
  return { mode, userSidecar: file('user-service'), orderSidecar: file('order-service') };
}
