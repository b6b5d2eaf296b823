// SPDX-License-Identifier: Apache-2.0
// Which sidecar configs the demo runs: static endpoints by default, Consul registration and discovery when
// CONSUL_HTTP_ADDR is set (the variable also reaches the meshlet children, which read the agent address from it);
// and the effective copies it runs them with, which name the CA the demo created at start.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

import { parseDocument } from 'yaml';

import { fromRoot } from '../services/shared/project-root.js';

/** The two config variants under examples/demo/config/. */
export type DemoMode = 'static' | 'consul';

/** The sidecar configs of one variant. */
export interface DemoConfigs {
  mode: DemoMode;
  userSidecar: string;
  orderSidecar: string;
}

/** The trust domain of the demo mesh: the CA is made for it, and the configs' `mtls.trustDomain` says the same. */
export const DEMO_TRUST_DOMAIN = 'demo.meshlet';

/** The one field the demo sets in each config: where the built-in CA it created lives. */
export const CA_DIR_PATH = ['mtls', 'source', 'ca', 'dir'] as const;

/** `consul` when CONSUL_HTTP_ADDR is set and non-empty, else `static`. */
export function demoMode(env: NodeJS.ProcessEnv): DemoMode {
  return env.CONSUL_HTTP_ADDR ? 'consul' : 'static';
}

/** Absolute paths of the sidecar configs for `mode`. */
export function demoConfigs(mode: DemoMode): DemoConfigs {
  const file = (name: string) => fromRoot('examples', 'demo', 'config', mode, `${name}.yaml`);
  return { mode, userSidecar: file('user-service'), orderSidecar: file('order-service') };
}

/**
 * The config text `yaml` with `mtls.source.ca.dir` set to `caDir`, everything else (comments included) kept. Pure.
 * Throws when the document has YAML errors or no `mtls.source.ca` section: the demo configs must use the ca source.
 */
export function withCaDir(yaml: string, caDir: string): string {
  const doc = parseDocument(yaml);
  if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors[0]!.message}`);
  if (!doc.hasIn(CA_DIR_PATH.slice(0, -1))) throw new Error(`no ${CA_DIR_PATH.slice(0, -1).join('.')} section to set dir in`);
  doc.setIn(CA_DIR_PATH, caDir);
  return doc.toString();
}

/**
 * Writes the effective copies of `configs` into `outDir` (created if needed), each with its CA dir set to `caDir`
 * (see {@link withCaDir}), under the same file names; returns their paths.
 */
export function writeEffectiveConfigs(configs: DemoConfigs, caDir: string, outDir: string): DemoConfigs {
  mkdirSync(outDir, { recursive: true });
  const write = (source: string): string => {
    const target = join(outDir, basename(source));
    try {
      writeFileSync(target, withCaDir(readFileSync(source, 'utf8'), caDir));
    } catch (err) {
      throw new Error(`${source}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    return target;
  };
  return { mode: configs.mode, userSidecar: write(configs.userSidecar), orderSidecar: write(configs.orderSidecar) };
}
