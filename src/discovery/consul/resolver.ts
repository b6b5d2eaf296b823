// SPDX-License-Identifier: Apache-2.0
// The Consul Resolver: one blocking-query watcher per backend, shared by every subscriber (ref-counted), started
// on the first watch() and stopped when the last subscriber closes. Feeds the balancer through the Resolver
// contract (../resolver.ts).

import type { Resolution, Resolver, Watch } from '../resolver.js';
import type { ConsulClient } from './client.js';
import { createConsulWatcher, type ConsulWatcherOptions, type WatcherStatus } from './watcher.js';

/** Options of {@link createConsulResolver}. */
export interface ConsulResolverOptions {
  /** The agent client (see client.ts); the resolver does not close it. */
  readonly client: ConsulClient;
  /** Blocking `wait`, ms. Default 30_000 (config `consul.waitMs`). */
  readonly waitMs?: number;
  /** Passed to every watcher: rate limit, backoff, clock, random, log. Defaults as in watcher.ts. */
  readonly watcher?: Omit<ConsulWatcherOptions, 'client' | 'service' | 'onResult' | 'waitMs'>;
}

/** One watched backend, for /ready, /config and metrics. */
export interface ConsulBackendStats extends WatcherStatus {
  /** Open watches sharing this backend's watcher. */
  readonly subscribers: number;
}

export interface ConsulResolver extends Resolver {
  readonly kind: 'consul';
  /**
   * A snapshot of every backend watched now. Watching is lazy: a backend appears on its first watch() and
   * disappears when its last watch is closed. Stopping idle backends (config `consul.idleWatchTimeoutMs`) is the
   * caller's job: the balancer closes its watch when no call used the backend for that long.
   */
  stats(): ConsulBackendStats[];
  /** Closes every watcher (shutdown). Later watch() calls get an error result. Idempotent. */
  close(): void;
}

interface Subscriber {
  readonly onResult: (result: Resolution) => void;
  open: boolean;
}

interface Entry {
  readonly subscribers: Set<Subscriber>;
  readonly watcher: { status(): WatcherStatus; close(): void };
  /** The last ok result, kept for late subscribers (the last good set survives errors). */
  lastOk: Resolution | undefined;
  /** The last error, when it is newer than `lastOk`. */
  lastError: Resolution | undefined;
}

/**
 * Creates the Consul resolver. `watch(backend, onResult)`:
 * 1. First subscriber of `backend`: starts its watcher; results arrive when Consul answers.
 * 2. Later subscribers share it and are first sent (asynchronously) the last good set, then the last error if
 *    the watcher is failing now, so they start where the others are.
 * 3. `close()` of the last subscriber stops the watcher (aborting its request in flight).
 */
export function createConsulResolver(options: ConsulResolverOptions): ConsulResolver {
  const entries = new Map<string, Entry>();
  let closed = false;

  const deliver = (sub: Subscriber, result: Resolution): void => {
    if (!sub.open) return;
    try {
      sub.onResult(result);
    } catch (err) {
      // One subscriber's bug must not starve the others sharing the watcher; reported, not swallowed.
      options.watcher?.log?.warn({ err }, 'consul resolver subscriber threw');
    }
  };

  return {
    kind: 'consul',

    watch(backend, onResult): Watch {
      const sub: Subscriber = { onResult, open: true };
      if (closed) {
        queueMicrotask(() => deliver(sub, { ok: false, error: new Error('consul resolver is closed') }));
        return { close: () => void (sub.open = false) };
      }
      let entry = entries.get(backend);
      if (entry === undefined) {
        const created: Entry = {
          subscribers: new Set(),
          lastOk: undefined,
          lastError: undefined,
          watcher: createConsulWatcher({
            ...options.watcher,
            client: options.client,
            service: backend,
            ...(options.waitMs !== undefined && { waitMs: options.waitMs }),
            onResult: (result) => {
              if (result.ok) {
                created.lastOk = result;
                created.lastError = undefined;
              } else {
                created.lastError = result;
              }
              // Copy: a subscriber may close (itself or another) while we iterate.
              for (const s of [...created.subscribers]) deliver(s, result);
            },
          }),
        };
        entries.set(backend, created);
        entry = created;
      } else {
        const { lastOk, lastError } = entry;
        if (lastOk !== undefined || lastError !== undefined) {
          queueMicrotask(() => {
            if (lastOk !== undefined) deliver(sub, lastOk);
            if (lastError !== undefined) deliver(sub, lastError);
          });
        }
      }
      const owner = entry;
      owner.subscribers.add(sub);
      return {
        close() {
          if (!sub.open) return;
          sub.open = false;
          owner.subscribers.delete(sub);
          if (owner.subscribers.size === 0 && entries.get(backend) === owner) {
            entries.delete(backend);
            owner.watcher.close();
          }
        },
      };
    },

    stats() {
      return [...entries.values()].map((e) => ({ ...e.watcher.status(), subscribers: e.subscribers.size }));
    },

    close() {
      if (closed) return;
      closed = true;
      for (const e of entries.values()) {
        for (const s of e.subscribers) s.open = false;
        e.watcher.close();
      }
      entries.clear();
    },
  };
}
