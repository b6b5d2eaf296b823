// SPDX-License-Identifier: Apache-2.0
// The Consul Resolver: one blocking-query watcher per backend, shared by every subscriber (ref-counted), started
// on the first watch() and stopped when the last subscriber closes. Feeds the balancer through the Resolver
// contract (../resolver.ts).

import type { Endpoint, Resolution, ResolutionUpdate, Resolver, Watch } from '../resolver.js';
import type { ConsulClient } from './client.js';
import { createConsulWatcher, type ConsulWatcherOptions, type WatcherStatus } from './watcher.js';

/** Options of {@link createConsulResolver}. */
export interface ConsulResolverOptions {
  /** The agent client (see client.ts); the resolver does not close it. */
  readonly client: ConsulClient;
  /** Blocking `wait`, ms. Default 30_000 (config `consul.waitMs`). */
  readonly waitMs?: number;
  /** Passed to every watcher: rate limit, backoff, clock, random, log. Defaults as in watcher.ts. */
  readonly watcher?: Omit<ConsulWatcherOptions, 'client' | 'service' | 'onResult' | 'onUpdate' | 'waitMs'>;
}

/** One watched backend, for /ready, /config and metrics. */
export interface ConsulBackendStats extends WatcherStatus {
  /** Open watches sharing this backend's watcher. */
  readonly subscribers: number;
}

export interface ConsulResolver extends Resolver {
  readonly kind: 'consul';
  /** Always present here: see `createConsulResolver`. */
  watchChanges(backend: string, onResult: (result: ResolutionUpdate) => void): Watch;
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
  readonly onResult: (result: ResolutionUpdate) => void;
  /** Opened with watchChanges: takes `{ok: true, changes}` once it has a whole set. */
  readonly changes: boolean;
  /**
   * 'new': its next ok result is a whole set; 'pending': a whole set is queued for it (changes before it are
   * in it, so they are not sent); 'primed': it holds the set the next changes apply to.
   */
  state: 'new' | 'pending' | 'primed';
  open: boolean;
}

interface Entry {
  readonly subscribers: Set<Subscriber>;
  readonly watcher: { status(): WatcherStatus; endpoints(): Endpoint[]; close(): void };
  /** An ok result arrived (the watcher holds the last good set, which survives errors). */
  hasOk: boolean;
  /** The last error, when it is newer than the last ok result. */
  lastError: Resolution | undefined;
}

/**
 * Creates the Consul resolver. `watch(backend, onResult)`:
 * 1. First subscriber of `backend`: starts its watcher; results arrive when Consul answers.
 * 2. Later subscribers share it and are first sent (asynchronously) the last good set, then the last error if
 *    the watcher is failing now, so they start where the others are.
 * 3. `close()` of the last subscriber stops the watcher (aborting its request in flight).
 * `watchChanges` works the same, except that once a subscriber has its first whole set, the ok results after it
 * are the changes only (O(changes) to deliver); the whole set is built (O(n log n)) only for `watch`
 * subscribers and for a subscriber's first result.
 */
export function createConsulResolver(options: ConsulResolverOptions): ConsulResolver {
  const entries = new Map<string, Entry>();
  let closed = false;

  const deliver = (sub: Subscriber, result: ResolutionUpdate): void => {
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
      return subscribe(backend, onResult as (result: ResolutionUpdate) => void, false);
    },

    watchChanges(backend, onResult): Watch {
      return subscribe(backend, onResult, true);
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

  function subscribe(backend: string, onResult: (result: ResolutionUpdate) => void, changes: boolean): Watch {
    const sub: Subscriber = { onResult, changes, state: 'new', open: true };
    if (closed) {
      queueMicrotask(() => deliver(sub, { ok: false, error: new Error('consul resolver is closed') }));
      return { close: () => void (sub.open = false) };
    }
    let entry = entries.get(backend);
    if (entry === undefined) {
      const created: Entry = {
        subscribers: new Set(),
        hasOk: false,
        lastError: undefined,
        watcher: createConsulWatcher({
          ...options.watcher,
          client: options.client,
          service: backend,
          ...(options.waitMs !== undefined && { waitMs: options.waitMs }),
          onUpdate: (update) => {
            // Copy: a subscriber may close (itself or another) while we iterate.
            const subs = [...created.subscribers];
            if (!update.ok) {
              created.lastError = update;
              for (const s of subs) deliver(s, update);
              return;
            }
            created.hasOk = true;
            created.lastError = undefined;
            // The whole set, built once for every subscriber that needs it (and only if one does).
            let whole: Resolution | undefined;
            const changed: ResolutionUpdate = { ok: true, changes: update.changes };
            for (const s of subs) {
              if (s.state === 'pending') continue;
              if (s.changes && s.state === 'primed') {
                deliver(s, changed);
              } else {
                whole ??= { ok: true, endpoints: created.watcher.endpoints() };
                s.state = 'primed';
                deliver(s, whole);
              }
            }
          },
        }),
      };
      entries.set(backend, created);
      entry = created;
    } else {
      const { hasOk, lastError } = entry;
      const owner = entry;
      if (hasOk || lastError !== undefined) {
        if (hasOk) sub.state = 'pending';
        queueMicrotask(() => {
          // The set as it is now: it already holds any change delivered to the others since watch().
          if (hasOk && sub.state === 'pending') {
            sub.state = 'primed';
            if (sub.open) deliver(sub, { ok: true, endpoints: owner.watcher.endpoints() });
          }
          if (lastError !== undefined && owner.lastError === lastError) deliver(sub, lastError);
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
  }
}
