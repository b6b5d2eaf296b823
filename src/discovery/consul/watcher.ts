// SPDX-License-Identifier: Apache-2.0
// The Consul blocking-query loop for one backend: GET /v1/health/service/:name?passing&index&wait, turned into
// Resolution results. Follows Consul's blocking-query rules (api-docs/features/blocking.mdx): index reset, index
// >= 1, token-bucket rate limit; plus full-jitter backoff on errors. Used by resolver.ts, one per backend.

import { createTokenBucket } from '../../ratelimit/token-bucket.js';
import { createBackoff } from '../../resilience/backoff.js';
import { endpointFromAddress, type Endpoint, type Resolution } from '../resolver.js';
import type { ConsulClient, HealthServiceEntry } from './client.js';

/** Timers and wall clock, injectable so tests drive the loop without sleeping. */
export interface WatcherClock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's timers and Date.now. */
const systemClock: WatcherClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The subset of a pino logger the watcher uses. */
export interface WatcherLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Rate limit of the loop (see {@link ConsulWatcherOptions.rateLimit}). */
export interface WatcherRateLimit {
  /** Requests allowed back to back. Default 2 (Consul's suggestion); range 1-10. */
  readonly burst: number;
  /** One more request is allowed every this many ms. Default 15_000; range 100-300_000. */
  readonly refillIntervalMs: number;
}

/** Backoff after a failed request (full jitter). */
export interface WatcherBackoff {
  /** Upper bound of the first delay, ms. Default 250. */
  readonly baseMs: number;
  /** Cap, ms. Default 30_000. */
  readonly maxMs: number;
}

export interface ConsulWatcherOptions {
  readonly client: ConsulClient;
  /** The Consul service name (meshlet's backend name). */
  readonly service: string;
  /** Called with every result, never synchronously from `createConsulWatcher` and never after `close()`. */
  readonly onResult: (result: Resolution) => void;
  /** Blocking `wait`, ms. Default 30_000; range 1000-600_000 (config `consul.waitMs`). */
  readonly waitMs?: number;
  /**
   * Token bucket in front of every request (errors included). Default burst 2, one token per 15 s: quiet
   * backends get each change at once, but a backend whose index churns faster than that degrades to one
   * request every 15 s instead of a busy loop against the agent (blocking.mdx, "Rate limit").
   */
  readonly rateLimit?: WatcherRateLimit;
  /** Delay after an error, on top of the token bucket. Default base 250 ms, cap 30 s. */
  readonly backoff?: WatcherBackoff;
  /** Default {@link systemClock}. */
  readonly clock?: WatcherClock;
  /** Uniform [0, 1) for the backoff jitter. Default Math.random. */
  readonly random?: () => number;
  /** Default: no logging. */
  readonly log?: WatcherLogger;
}

/** What /ready and the metrics read. */
export interface WatcherStatus {
  readonly service: string;
  /** False once closed. */
  readonly running: boolean;
  /** Wall time (ms) of the last successful response; undefined before the first. */
  readonly lastSuccessAt: number | undefined;
  /** Failed requests since the last success (0 when healthy). */
  readonly consecutiveErrors: number;
  /** Message of the last error, if the latest request failed. */
  readonly lastError: string | undefined;
  /** The index the next request blocks on (0 = the next request is a non-blocking read). */
  readonly lastIndex: number;
  /** Endpoints in the last good set. */
  readonly endpoints: number;
  /** Counters since start: requests sent, errors, index resets (went backwards), ok results emitted. */
  readonly requests: number;
  readonly errors: number;
  readonly indexResets: number;
  readonly updates: number;
}

export interface ConsulWatcher {
  status(): WatcherStatus;
  /** Aborts the request in flight and cancels any timer; no result is delivered afterwards. Idempotent. */
  close(): void;
}

/**
 * Starts watching `service`. The loop, per iteration:
 *
 * 1. Take a token from the bucket (not for the initial fetch); if it is empty, wait for the next one (quiet
 *    backends never wait here).
 * 2. Send the query. The index sent is the one kept from the last response; 0 (not sent, a non-blocking read) on
 *    the very first request, after an index reset (3) and after an error (5).
 * 3. On a response with index X: if the request blocked on index I and X < I, the index went backwards
 *    (snapshot restore, agent restart): keep 0 so the next read starts over. Otherwise keep max(X, 1): an index
 *    of 0 would make every following "blocking" read return at once (blocking.mdx, "Sanity check").
 * 4. Map the entries to endpoints and emit `{ok: true}` when the set differs from the last one emitted (or the
 *    last result was an error). A blocking read returning unchanged data is normal and emits nothing.
 * 5. On an error: emit `{ok: false}` (consumers keep their last good set), then wait a full-jitter backoff before
 *    step 1. The next read is non-blocking, so recovery is reported as soon as the agent answers.
 */
export function createConsulWatcher(options: ConsulWatcherOptions): ConsulWatcher {
  const { client, service, onResult, log } = options;
  const clock = options.clock ?? systemClock;
  const waitMs = options.waitMs ?? 30_000;
  const rate = options.rateLimit ?? { burst: 2, refillIntervalMs: 15_000 };
  const bucket = createTokenBucket({
    capacity: rate.burst,
    refillPerSecond: 1000 / rate.refillIntervalMs,
    now: () => clock.now(),
  });
  const backoff = createBackoff({
    baseMs: options.backoff?.baseMs ?? 250,
    maxMs: options.backoff?.maxMs ?? 30_000,
    random: options.random ?? Math.random,
  });

  let closed = false;
  let index = 0n;
  let timer: unknown;
  let inflight: AbortController | undefined;
  let lastKey: string | undefined;
  let lastWasError = false;
  let endpoints = 0;
  let lastSuccessAt: number | undefined;
  let consecutiveErrors = 0;
  let lastError: string | undefined;
  let requests = 0;
  let errors = 0;
  let indexResets = 0;
  let updates = 0;

  const emit = (result: Resolution): void => {
    if (closed) return;
    try {
      onResult(result);
    } catch (err) {
      // A subscriber bug must not kill the loop; it is reported, not swallowed.
      log?.warn({ service, err }, 'consul watch subscriber threw');
    }
  };

  const schedule = (ms: number): void => {
    timer = clock.setTimeout(() => {
      timer = undefined;
      step();
    }, ms);
  };

  const step = (): void => {
    if (closed) return;
    // The initial fetch is not an iteration of the loop the bucket protects, so it is free: the burst then covers
    // the first two changes (typically registration, then the first passing check), which a new instance's
    // callers would otherwise see up to one refill interval late.
    if (requests > 0) {
      const waitForToken = bucket.msUntilAvailable();
      if (waitForToken > 0) {
        log?.debug({ service, delayMs: waitForToken }, 'consul watch rate-limited');
        schedule(waitForToken);
        return;
      }
      bucket.tryTake();
    }
    const sentIndex = index;
    const controller = new AbortController();
    inflight = controller;
    requests += 1;
    client
      .healthService({ service, passing: true, index: sentIndex, waitMs, signal: controller.signal })
      .then(
        (res) => {
          if (closed || inflight !== controller) return;
          inflight = undefined;
          onResponse(sentIndex, res.index, res.entries);
        },
        (err: unknown) => {
          if (closed || inflight !== controller) return;
          inflight = undefined;
          onError(err instanceof Error ? err : new Error(String(err)));
        },
      );
  };

  const onResponse = (sentIndex: bigint, newIndex: bigint, entries: readonly HealthServiceEntry[]): void => {
    lastSuccessAt = clock.now();
    consecutiveErrors = 0;
    lastError = undefined;
    backoff.reset();
    if (sentIndex > 0n && newIndex < sentIndex) {
      indexResets += 1;
      index = 0n;
      log?.warn({ service, from: String(sentIndex), to: String(newIndex) }, 'consul index went backwards; resetting');
    } else {
      index = newIndex < 1n ? 1n : newIndex;
    }
    const set = entriesToEndpoints(entries, (address, err) => {
      // One bad registration must not freeze the whole backend: skip it, loudly.
      log?.warn({ service, address, err }, 'consul instance skipped: unusable address');
    });
    const key = endpointSetKey(set);
    if (key !== lastKey || lastWasError) {
      lastKey = key;
      lastWasError = false;
      endpoints = set.length;
      updates += 1;
      emit({ ok: true, endpoints: set });
    }
    step();
  };

  const onError = (error: Error): void => {
    consecutiveErrors += 1;
    errors += 1;
    lastError = error.message;
    lastWasError = true;
    // Re-read without blocking once the agent is back, so consumers learn it at once (step 5).
    index = 0n;
    const delay = backoff.next();
    log?.warn({ service, err: error, consecutiveErrors, retryInMs: delay }, 'consul watch failed');
    emit({ ok: false, error });
    schedule(delay);
  };

  // Start asynchronously: callers get their first result only after createConsulWatcher returned.
  schedule(0);

  return {
    status() {
      return {
        service,
        running: !closed,
        lastSuccessAt,
        consecutiveErrors,
        lastError,
        lastIndex: Number(index),
        endpoints,
        requests,
        errors,
        indexResets,
        updates,
      };
    },
    close() {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      inflight?.abort();
      inflight = undefined;
    },
  };
}

/**
 * Maps health entries to endpoints: `Service.Address`, or `Node.Address` when it is empty (Consul's documented
 * fallback); weight `Weights.Passing` (at least 1); meta `Service.Meta`. Sorted by address, duplicates (same
 * address twice) merged to the first. An instance whose address is not a valid host:port (e.g. Port 0) is left
 * out and reported to `onInvalid`.
 */
export function entriesToEndpoints(
  entries: readonly HealthServiceEntry[],
  onInvalid: (address: string, err: Error) => void = () => {},
): Endpoint[] {
  const byAddress = new Map<string, Endpoint>();
  for (const e of entries) {
    const host = e.Service.Address !== '' ? e.Service.Address : e.Node.Address;
    const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    const address = `${bracketed}:${e.Service.Port}`;
    if (byAddress.has(address)) continue;
    const weight = Math.max(1, Math.floor(e.Service.Weights.Passing));
    try {
      byAddress.set(address, endpointFromAddress(address, weight, { ...e.Service.Meta }));
    } catch (err) {
      onInvalid(address, err as Error);
    }
  }
  return [...byAddress.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

/** A string equal for equal sets (sorted input), used to skip results that change nothing. */
function endpointSetKey(set: readonly Endpoint[]): string {
  return JSON.stringify(
    set.map((e) => [e.address, e.weight, Object.entries(e.meta).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]),
  );
}
