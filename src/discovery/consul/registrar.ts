// SPDX-License-Identifier: Apache-2.0
// Keeps the local service registered: registers on start and, when the agent is unreachable or refuses, retries in
// the background with full-jitter backoff (the sidecar serves meanwhile: Consul being down must not stop traffic).
// Deregisters on shutdown, before the listeners drain, so peers stop picking this instance first.

import type { Logger } from '../../telemetry/logger.js';
import { createBackoff } from '../../resilience/backoff.js';
import type { ConsulRegistration } from './registration.js';

export type RegistrationState = 'pending' | 'registered' | 'failing' | 'deregistered';

export interface Registrar {
  readonly state: RegistrationState;
  /** Consecutive failed attempts since the last success. */
  readonly failures: number;
  /** Starts registering; resolves after the first attempt, whatever its outcome. */
  start(): Promise<void>;
  /** Stops retrying and deregisters (errors are logged, not thrown: shutdown goes on). */
  stop(): Promise<void>;
}

export interface RegistrarOptions {
  readonly log: Logger;
  /** Backoff between failed attempts: base 1000 ms, cap 30000 ms by default. */
  readonly baseMs?: number;
  readonly maxMs?: number;
  readonly random?: () => number;
  /** Reports each attempt's outcome (metrics). */
  readonly onAttempt?: (ok: boolean) => void;
}

export function createRegistrar(registration: ConsulRegistration, opts: RegistrarOptions): Registrar {
  const backoff = createBackoff({ baseMs: opts.baseMs ?? 1000, maxMs: opts.maxMs ?? 30_000, random: opts.random ?? Math.random });
  let state: RegistrationState = 'pending';
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const attempt = async (): Promise<void> => {
    timer = undefined;
    try {
      await registration.register();
      if (stopped) return;
      state = 'registered';
      failures = 0;
      backoff.reset();
      opts.onAttempt?.(true);
      opts.log.info({ id: registration.id }, 'registered in consul');
    } catch (err) {
      if (stopped) return;
      state = 'failing';
      failures++;
      opts.onAttempt?.(false);
      const delay = backoff.next();
      opts.log.warn({ id: registration.id, err: err instanceof Error ? err.message : String(err), retryInMs: delay }, 'consul registration failed; retrying');
      timer = setTimeout(() => void attempt(), delay);
      timer.unref();
    }
  };

  return {
    get state() {
      return state;
    },
    get failures() {
      return failures;
    },
    start: attempt,
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      try {
        await registration.deregister();
        state = 'deregistered';
        opts.log.info({ id: registration.id }, 'deregistered from consul');
      } catch (err) {
        opts.log.warn({ id: registration.id, err: err instanceof Error ? err.message : String(err) }, 'consul deregistration failed');
      }
    },
  };
}
