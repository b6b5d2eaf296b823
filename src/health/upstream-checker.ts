// SPDX-License-Identifier: Apache-2.0
// Optional active health checks of upstream endpoints (config `health.upstreams`): every interval, one
// grpc.health.v1 Check per endpoint of every watched backend. Between them, a hysteresis (N failures to go down,
// M successes to come back) flips `BackendEndpoint.healthy`, which pickers see through `ready`; the backend's
// picker is rebuilt on each change. Endpoints are usually peer sidecars, which answer with their own app's health.

import type { Backend, BackendEndpoint } from '../balance/backends.js';
import type { Logger } from '../telemetry/logger.js';
import type { HealthCheckResult } from './grpc-check.js';

/** What the checker needs from `Backends`. */
export interface CheckedBackends {
  list(): Backend[];
  refresh(b: Backend): void;
}

export interface UpstreamCheckerOptions {
  readonly backends: CheckedBackends;
  /** One Check on `address` (grpc-check.ts bound to the outbound pool and the configured service name). */
  readonly check: (address: string, timeoutMs: number) => Promise<HealthCheckResult>;
  /** Between rounds, ms; default 10000 (config), range 1000-3600000. */
  readonly intervalMs: number;
  /** One check's timeout, ms; default 1000 (config), range 10-60000. */
  readonly timeoutMs: number;
  /** Consecutive failed checks that mark a healthy endpoint unhealthy; default 2 (config), range 1-100. */
  readonly unhealthyThreshold: number;
  /** Consecutive passed checks that bring an unhealthy endpoint back; default 1 (config), range 1-100. */
  readonly healthyThreshold: number;
  readonly log: Logger;
  /** Every check's result, for metrics. */
  readonly onCheck?: (upstream: string, result: 'serving' | 'not_serving' | 'error') => void;
  /** An endpoint changed state, for metrics. */
  readonly onTransition?: (upstream: string, to: 'healthy' | 'unhealthy') => void;
}

/** The checker's view of one endpoint (for /clusters). */
export interface EndpointCheckState {
  healthy: boolean;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  /** The last answer (SERVING, NOT_SERVING, ...) or undefined before the first. */
  lastStatus: string | undefined;
  lastError: string | undefined;
  /** Date.now() of the last finished check. */
  lastCheckedAt: number | undefined;
}

export interface UpstreamChecker {
  /** Starts the rounds (the first one at once). */
  start(): void;
  /** Runs one round now and resolves when every check of it has finished (tests, and the timer). */
  runRound(): Promise<void>;
  /**
   * Checks now, without waiting for the next round, the endpoints the backend's last update added or replaced
   * (`backend.lastChanges`: O(changes), issue 13).
   */
  checkBackend(backend: Backend): Promise<void>;
  /** The state of `address`, if it was checked. */
  state(address: string): EndpointCheckState | undefined;
  stop(): void;
}

/**
 * Creates the checker. Per endpoint, numbered as it happens:
 * 1. New endpoints start healthy (discovery already filters on the registry's health; no added start-up delay).
 * 2. A check passes when the answer is SERVING; anything else (NOT_SERVING, an error status such as UNIMPLEMENTED,
 *    a timeout, a refused connect) fails.
 * 3. `unhealthyThreshold` consecutive failures mark a healthy endpoint unhealthy; `healthyThreshold` consecutive
 *    passes mark an unhealthy one healthy. Each change rebuilds the backend's picker and is logged.
 * 4. At most one check per endpoint is in flight; endpoints that left discovery are forgotten.
 */
export function createUpstreamChecker(options: UpstreamCheckerOptions): UpstreamChecker {
  const states = new Map<string, EndpointCheckState>();
  const inflight = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const apply = (backend: Backend, ep: BackendEndpoint, result: HealthCheckResult): boolean => {
    const address = ep.endpoint.address;
    let st = states.get(address);
    if (st === undefined) {
      st = { healthy: true, consecutiveFailures: 0, consecutiveSuccesses: 0, lastStatus: undefined, lastError: undefined, lastCheckedAt: undefined };
      states.set(address, st);
    }
    st.lastCheckedAt = Date.now();
    const passed = result.ok && result.status === 'SERVING';
    st.lastStatus = result.ok ? result.status : undefined;
    st.lastError = result.ok ? undefined : result.error;
    options.onCheck?.(backend.name, passed ? 'serving' : result.ok ? 'not_serving' : 'error');
    if (passed) {
      st.consecutiveSuccesses++;
      st.consecutiveFailures = 0;
    } else {
      st.consecutiveFailures++;
      st.consecutiveSuccesses = 0;
    }
    let changed = false;
    if (st.healthy && st.consecutiveFailures >= options.unhealthyThreshold) {
      st.healthy = false;
      changed = true;
      const fields = { backend: backend.name, endpoint: address, failures: st.consecutiveFailures, err: st.lastError ?? st.lastStatus };
      options.log.warn(fields, 'upstream endpoint failed its health checks: out of the picker');
      options.onTransition?.(backend.name, 'unhealthy');
    } else if (!st.healthy && st.consecutiveSuccesses >= options.healthyThreshold) {
      st.healthy = true;
      changed = true;
      options.log.info({ backend: backend.name, endpoint: address }, 'upstream endpoint passes its health checks again');
      options.onTransition?.(backend.name, 'healthy');
    }
    if (ep.healthy !== st.healthy) {
      ep.healthy = st.healthy;
      changed = true;
    }
    return changed;
  };

  const checkEndpoints = (
    backend: Backend,
    endpoints: readonly BackendEndpoint[],
    seen: Set<string>,
    work: Promise<void>[],
  ): void => {
    if (stopped) return;
    for (const ep of endpoints) {
      const address = ep.endpoint.address;
      seen.add(address);
      // A replacement BackendEndpoint (weight change) gets the verdict at once.
      const known = states.get(address);
      if (known !== undefined && ep.healthy !== known.healthy) {
        ep.healthy = known.healthy;
        options.backends.refresh(backend);
      }
      if (inflight.has(address)) continue;
      inflight.add(address);
      work.push(
        options.check(address, options.timeoutMs).then((result) => {
          inflight.delete(address);
          if (stopped) return;
          // Apply to the endpoint object that is current now (the set may have changed meanwhile).
          const current = backend.endpointAt(address);
          if (current !== undefined && apply(backend, current, result)) options.backends.refresh(backend);
        }),
      );
    }
  };

  const runRound = async (): Promise<void> => {
    const seen = new Set<string>();
    const work: Promise<void>[] = [];
    for (const backend of options.backends.list()) checkEndpoints(backend, backend.endpoints, seen, work);
    for (const address of [...states.keys()]) if (!seen.has(address)) states.delete(address);
    await Promise.all(work);
  };

  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      void runRound().then(schedule);
    }, options.intervalMs);
    timer.unref();
  };

  return {
    start() {
      void runRound().then(schedule);
    },
    runRound,
    async checkBackend(backend) {
      const work: Promise<void>[] = [];
      checkEndpoints(backend, backend.lastChanges.upserted, new Set(), work);
      await Promise.all(work);
    },
    state: (address) => states.get(address),
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
