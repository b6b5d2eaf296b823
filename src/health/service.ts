// SPDX-License-Identifier: Apache-2.0
// The sidecar's grpc.health.v1 state for the local service: SERVING only while the app is healthy and the sidecar
// is ready (listening, upstreams resolved, not draining). Answers Check and feeds Watch streams; the wire side is
// src/proxy/layers/health.ts on the inbound listener (where Consul's gRPC check and Kubernetes `grpc` probes land).

import type { AppHealth } from './app-health.js';

/**
 * What Check/Watch answer for a service name. UNKNOWN only while the sidecar is ready but the app's first probe has
 * not ended (Watch may send it first; a Check waits for that probe instead).
 */
export type ServedStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN';

/** A Watch subscriber: receives every change; `final` is true for the last update before the stream ends. */
export type WatchListener = (status: ServedStatus | 'SERVICE_UNKNOWN', final: boolean) => void;

export interface HealthServiceOptions {
  /** The local service name; Check/Watch with this name or '' (the whole server) get the sidecar's answer. */
  readonly serviceName: string;
  /** The sidecar's readiness: undefined when ready, else why not (the same checks as /ready). */
  readonly ready: () => string | undefined;
  readonly app: AppHealth;
}

export interface HealthService {
  /** Whether `service` is one this sidecar answers for ('' or the local service name). */
  knows(service: string): boolean;
  /**
   * The status to serve now. Starts the app's health probes if they have not started and waits, bounded
   * by the check timeout, while the last result is missing or older than the check interval plus timeout.
   */
  check(): Promise<ServedStatus>;
  /** The status from what is known now (no waiting). */
  current(): ServedStatus;
  /** Why the status is not SERVING, if it is not. */
  reason(): string | undefined;
  /** Subscribes to changes; the listener is sent the current status at once. Returns the unsubscribe function. */
  watch(service: string, listener: WatchListener): () => void;
  /** Re-evaluates and notifies watchers when the status changed (called on app-health changes, start, drain). */
  refresh(): void;
  /** Draining: everything is NOT_SERVING from now on; watchers get it as their final update. Idempotent. */
  shutdown(): void;
}

export function createHealthService(options: HealthServiceOptions): HealthService {
  // Each watcher with the last status it was sent (Watch sends changes only); unknown services keep theirs.
  const watchers = new Map<WatchListener, ServedStatus | 'SERVICE_UNKNOWN'>();
  let down = false;

  const reason = (): string | undefined => {
    if (down) return 'draining';
    const notReady = options.ready();
    if (notReady !== undefined) return notReady;
    const app = options.app.status();
    if (app === 'SERVING') return undefined;
    const why = options.app.reason();
    return app === 'UNKNOWN' ? why : `app not serving${why ? `: ${why}` : ''}`;
  };
  const current = (): ServedStatus => {
    if (reason() === undefined) return 'SERVING';
    // Draining and readiness are known facts; only the app's not-yet-probed state is unknown.
    return !down && options.ready() === undefined && options.app.status() === 'UNKNOWN' ? 'UNKNOWN' : 'NOT_SERVING';
  };
  const knows = (service: string): boolean => service === '' || service === options.serviceName;

  return {
    knows,
    async check() {
      // Single-flight in the app monitor: concurrent Checks wait for the same probe and read the same result.
      if (!down) await options.app.demand();
      return current();
    },
    current,
    reason,
    watch(service, listener) {
      // health-checking.md: an unknown service gets SERVICE_UNKNOWN and the stream stays open.
      const first = knows(service) ? current() : 'SERVICE_UNKNOWN';
      listener(first, down);
      if (down) return () => {};
      // Starts the app's checks if nobody asked yet; a change is pushed by refresh().
      if (first !== 'SERVICE_UNKNOWN') void options.app.demand();
      watchers.set(listener, first);
      return () => void watchers.delete(listener);
    },
    refresh() {
      if (down) return;
      const now = current();
      for (const [w, sent] of [...watchers]) {
        if (sent === 'SERVICE_UNKNOWN' || sent === now || !watchers.has(w)) continue;
        watchers.set(w, now);
        w(now, false);
      }
    },
    shutdown() {
      if (down) return;
      down = true;
      const list = [...watchers];
      watchers.clear();
      for (const [w, sent] of list) w(sent === 'SERVICE_UNKNOWN' ? sent : 'NOT_SERVING', true);
    },
  };
}
