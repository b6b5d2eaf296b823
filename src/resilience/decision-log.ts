// SPDX-License-Identifier: Apache-2.0
// Logs the resilience decisions that degrade or would degrade calls (overflow, open breaker, exhausted budget,
// shadow decisions), at most one line per kind and backend every `intervalMs`, with how many were folded into it,
// so an overload does not turn into a log flood. Ejections and restores are logged by the outlier layer itself.

import type { Logger } from '../telemetry/logger.js';
import type { ResilienceEvents } from './events.js';

export interface DecisionLogOptions {
  readonly log: Logger;
  /** One line per kind and backend at most this often, ms; default 10000. */
  readonly intervalMs?: number;
  readonly now?: () => number;
}

/** A ResilienceEvents sink that logs; combine it with the metrics sink (`combineEvents`). */
export function createDecisionLog(opts: DecisionLogOptions): ResilienceEvents {
  const { log } = opts;
  const intervalMs = opts.intervalMs ?? 10_000;
  const now = opts.now ?? (() => performance.now());
  // Keys are bounded: kinds x backends (configured or discovered) x bounded details.
  const last = new Map<string, { at: number; folded: number }>();

  const throttled = (key: string, write: (folded: number) => void): void => {
    const t = now();
    const seen = last.get(key);
    if (seen !== undefined && t - seen.at < intervalMs) {
      seen.folded++;
      return;
    }
    write(seen?.folded ?? 0);
    last.set(key, { at: t, folded: 0 });
  };

  return {
    onOverflow(backend, limit) {
      throttled(`overflow ${backend} ${limit}`, (folded) =>
        log.warn({ backend, limit, folded }, `circuit-breaker threshold ${limit} reached: attempt rejected`),
      );
    },
    onBreakerReject(backend) {
      throttled(`open ${backend}`, (folded) => log.warn({ backend, folded }, 'circuit breaker open: attempt rejected'));
    },
    onBreakerState(backend, state) {
      if (state === 'open') log.warn({ backend }, 'circuit breaker opened');
      else log.info({ backend, state }, `circuit breaker ${state}`);
    },
    onBudgetExhausted(backend) {
      throttled(`budget ${backend}`, (folded) => log.warn({ backend, folded }, 'retry budget exhausted: retry not made'));
    },
    onShadow(feature, backend, detail) {
      throttled(`shadow ${feature} ${backend} ${detail}`, (folded) =>
        log.info({ backend, feature, detail, folded, shadow: true }, `shadow: ${feature} would have acted (${detail}); call let through`),
      );
    },
  };
}
