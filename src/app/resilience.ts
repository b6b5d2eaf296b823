// SPDX-License-Identifier: Apache-2.0
// Composition root, resilience area: the policy store and the per-backend state it configures (one each per
// process), the decision log, and loading plus
// hot-reloading `config.policy.file`. The outbound chain reads the store; a reload swaps its snapshot.

import type { BootstrapConfig } from '../config/schema.js';
import { formatIssue } from '../config/errors.js';
import { fileSource, staticSource } from '../config/source.js';
import { watchConfigFile, type ConfigWatcher } from '../config/watch.js';
import { loadPolicy } from '../policy/load.js';
import { EMPTY_POLICY, type Policy } from '../policy/schema.js';
import { PolicyStore } from '../policy/store.js';
import { BackendStates } from '../resilience/backend-state.js';
import { createDecisionLog } from '../resilience/decision-log.js';
import { combineEvents, type ResilienceEvents } from '../resilience/events.js';
import type { Logger } from '../telemetry/logger.js';

export interface ResilienceDeps {
  readonly log: Logger;
  /** Where decisions are counted (AppTelemetry.events). */
  readonly events: ResilienceEvents;
  /** The policy in force at start, already validated (AppOptions.policy). Default: loaded from the file in start(). */
  readonly policy?: Policy;
}

export interface AppResilience {
  readonly store: PolicyStore;
  /** The per-backend limiters, breakers, budgets and outlier detectors, reconfigured by every swap of `store`. */
  readonly states: BackendStates;
  /** `deps.events` plus the throttled decision log: what the resilience layers and policy reloads report to. */
  readonly events: ResilienceEvents;
  /** Start hook (first of all): loads the policy file when configured and starts watching it. */
  start(): Promise<void>;
  /** Stop hook: stops watching the policy file. */
  close(): void;
}

/** Builds the store with `deps.policy` (or the built-in defaults). Reads no file until start(). */
export function createResilience(config: BootstrapConfig, deps: ResilienceDeps): AppResilience {
  // A reload swaps the store's snapshot; state carries over by key. Decisions go to the metrics hooks and to a
  // throttled log (overflow, open breaker, budget, shadow).
  const events = combineEvents(deps.events, createDecisionLog({ log: deps.log.child({ component: 'resilience' }) }));
  const store = new PolicyStore(deps.policy ?? EMPTY_POLICY);
  const states = new BackendStates(store, { events });
  let watcher: ConfigWatcher | undefined;
  return {
    store,
    states,
    events,
    async start() {
      if (config.policy !== undefined) watcher = await startPolicy(config.policy, store, deps.policy, events, deps.log);
    },
    close: () => watcher?.close(),
  };
}

/**
 * Loads the policy file (unless `given` is set) and starts watching it. A bad file at startup fails `start()` with
 * every issue; later bad versions are only rejected (the watcher keeps the last good one).
 */
async function startPolicy(
  policy: NonNullable<BootstrapConfig['policy']>,
  store: PolicyStore,
  given: Policy | undefined,
  events: ResilienceEvents,
  log: Logger,
): Promise<ConfigWatcher> {
  const plog = log.child({ component: 'policy' });
  let initialText: string | undefined;
  if (given === undefined) {
    // Read once: the watcher compares later versions with exactly the text that was validated.
    initialText = await fileSource(policy.file).read().catch(() => undefined);
    const loaded = await loadPolicy(initialText === undefined ? fileSource(policy.file) : staticSource(policy.file, initialText));
    if (!loaded.ok) throw new Error(`policy ${policy.file} is invalid:\n${loaded.errors.map(formatIssue).join('\n')}`);
    store.swap(loaded.config);
  }
  plog.info({ file: policy.file }, 'policy loaded');
  return watchConfigFile({
    path: policy.file,
    load: loadPolicy,
    apply: (next) => store.swap(next),
    log: plog,
    debounceMs: policy.reloadDebounceMs,
    initialText,
    onReload: events.onReload?.bind(events),
  });
}
