// SPDX-License-Identifier: Apache-2.0
// Watches the local app's health for the sidecar's grpc.health.v1 answers, /clusters and the metrics: a Check on
// the app's own health service (mode grpc), an HTTP/1.1 GET (mode http), a TCP connect (mode tcp), or nothing
// (mode none: always serving). Probed when the sidecar starts (`start`, once its listeners are up) and then every
// `health.intervalMs`, so the state is known without anyone asking; UNKNOWN only until the first probe ends.
// Probes are single-flight: a scheduled probe, `checkNow` and every health request waiting on `demand` share the
// one in flight and see its one answer (issue 13: concurrent Checks once answered SERVING and NOT_SERVING).

import http from 'node:http';
import net from 'node:net';
import type { Logger } from '../telemetry/logger.js';
import type { HealthCheckResult } from './grpc-check.js';

/** How the app's health is checked (config `health.appCheck`). */
export type AppCheckMode = 'grpc' | 'http' | 'tcp' | 'none';

/** The app's health as last observed: UNKNOWN until the first check has finished. */
export type AppHealthStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN';

export interface AppHealthOptions {
  readonly mode: AppCheckMode;
  /** The app's `host:port` (config `inbound.app`). */
  readonly address: string;
  /** Mode http: where to GET (`host:port` and path); default the app's address and /healthz. */
  readonly http?: { readonly address: string; readonly path: string };
  /** Mode grpc: one Check call (see grpc-check.ts, bound to the inbound pool by src/app/inbound.ts). */
  readonly grpcCheck: (timeoutMs: number) => Promise<HealthCheckResult>;
  /** Between the end of one check and the start of the next, ms; default 5000 (config), range 100-600000. */
  readonly intervalMs: number;
  /** One check's timeout, ms; default 1000 (config), range 10-60000. */
  readonly timeoutMs: number;
  readonly log: Logger;
  /** Called after each check with its result (metrics, re-evaluating Watch streams), and with the new status when it changed. */
  readonly onCheck?: (result: 'serving' | 'not_serving' | 'error') => void;
  readonly onChange?: (status: AppHealthStatus) => void;
  /** Monotonic ms (how old the last result is); default performance.now(). Inject a fake clock in tests. */
  readonly now?: () => number;
}

/** The reason while no probe has finished yet (status UNKNOWN). */
export const NOT_CHECKED_YET = 'app health not checked yet';

export interface AppHealth {
  status(): AppHealthStatus;
  /** Why the last check failed, if it did. */
  readonly lastError: string | undefined;
  /** Why the status is not SERVING: `NOT_CHECKED_YET` while UNKNOWN, else the failed check's error; undefined when SERVING. */
  reason(): string | undefined;
  /** Starts probing: one probe now, then one `intervalMs` after each probe ends. Idempotent; no-op in mode none. */
  start(): void;
  /**
   * Someone asked for the health (a grpc.health Check): starts probing if `start` was not called yet, and resolves
   * once a probe result exists that ended at most `intervalMs + timeoutMs` ago (the schedule's own worst case),
   * joining the probe in flight, or starting one, when there is none. So a Check never answers from UNKNOWN, and
   * concurrent Checks wait for the same probe.
   */
  demand(): Promise<void>;
  /** Runs one probe now (or joins the one in flight) and resolves with the status after it. */
  checkNow(): Promise<AppHealthStatus>;
  /** Stops checking. Idempotent. */
  stop(): void;
}

/** TCP mode: the app accepts a connection within `timeoutMs`. */
export function tcpCheck(address: string, timeoutMs: number): Promise<string | undefined> {
  const i = address.lastIndexOf(':');
  let host = address.slice(0, i);
  if (host.startsWith('[')) host = host.slice(1, -1);
  const port = Number(address.slice(i + 1));
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (err: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(err);
    };
    const timer = setTimeout(() => done(`connect to ${address} timed out after ${timeoutMs} ms`), timeoutMs);
    socket.once('connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => done(`connect to ${address} failed: ${err.code ?? err.message}`));
  });
}

/** HTTP mode: `GET http://address/path` answers 2xx within `timeoutMs` (Kubernetes httpGet probe semantics). */
export function httpCheck(address: string, path: string, timeoutMs: number): Promise<string | undefined> {
  const i = address.lastIndexOf(':');
  let host = address.slice(0, i);
  if (host.startsWith('[')) host = host.slice(1, -1);
  const port = Number(address.slice(i + 1));
  return new Promise((resolve) => {
    let settled = false;
    const done = (err: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(err);
    };
    const req = http.get({ host, port, path, agent: false, headers: { 'user-agent': 'meshlet-health' } }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      done(code >= 200 && code < 300 ? undefined : `GET ${path} on ${address} answered HTTP ${code}`);
    });
    const timer = setTimeout(() => done(`GET ${path} on ${address} timed out after ${timeoutMs} ms`), timeoutMs);
    req.once('error', (err: NodeJS.ErrnoException) => done(`GET ${path} on ${address} failed: ${err.code ?? err.message}`));
  });
}

/**
 * Creates the monitor. Mode grpc, by the answer to `Check("")` (or the configured service):
 * 1. SERVING → SERVING; NOT_SERVING, UNKNOWN or SERVICE_UNKNOWN → NOT_SERVING.
 * 2. UNIMPLEMENTED: the app is up and speaks gRPC but has no health service → SERVING, with one warning that
 *    suggests `health.appCheck: tcp` (so a sidecar in front of such an app does not fail every probe forever).
 * 3. Any other failure (connect refused, timeout, other status) → NOT_SERVING.
 */
export function createAppHealth(options: AppHealthOptions): AppHealth {
  let status: AppHealthStatus = options.mode === 'none' ? 'SERVING' : 'UNKNOWN';
  let lastError: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let warnedUnimplemented = false;
  let running: Promise<AppHealthStatus> | undefined;
  let started = false;
  /** When the last probe ended (its result is the status); undefined before the first one ends. */
  let lastResultMs: number | undefined;
  const now = options.now ?? (() => performance.now());

  const set = (next: AppHealthStatus, result: 'serving' | 'not_serving' | 'error', error: string | undefined) => {
    lastResultMs = now();
    lastError = error;
    const previous = status;
    status = next;
    if (next !== previous) {
      if (next === 'SERVING') options.log.info({ app: options.address, previous }, 'app health: serving');
      else options.log.warn({ app: options.address, previous, err: error }, 'app health: not serving');
    }
    // After the status is updated, so listeners read the new one.
    options.onCheck?.(result);
    if (next !== previous) options.onChange?.(next);
  };

  const runOnce = async (): Promise<AppHealthStatus> => {
    if (options.mode === 'none') return status;
    if (options.mode === 'tcp' || options.mode === 'http') {
      const err =
        options.mode === 'tcp'
          ? await tcpCheck(options.address, options.timeoutMs)
          : await httpCheck(options.http?.address ?? options.address, options.http?.path ?? '/healthz', options.timeoutMs);
      if (!stopped) set(err === undefined ? 'SERVING' : 'NOT_SERVING', err === undefined ? 'serving' : 'error', err);
      return status;
    }
    const r = await options.grpcCheck(options.timeoutMs);
    if (stopped) return status;
    if (r.ok) {
      if (r.status === 'SERVING') set('SERVING', 'serving', undefined);
      else set('NOT_SERVING', 'not_serving', `app reports ${r.status}`);
    } else if (r.grpcStatus === 12) {
      if (!warnedUnimplemented) {
        warnedUnimplemented = true;
        options.log.warn(
          { app: options.address },
          'app has no grpc.health.v1 service (UNIMPLEMENTED): treating it as serving; set health.appCheck: tcp to silence this',
        );
      }
      set('SERVING', 'serving', undefined);
    } else {
      set('NOT_SERVING', 'error', r.error);
    }
    return status;
  };

  const check = (): Promise<AppHealthStatus> => {
    // Single-flight: a scheduled tick, checkNow() and every demand() share the probe in flight. The freshness
    // mark is set when a probe ends, never when it starts, so nobody takes a probe still running for an answer.
    running ??= runOnce().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = () => {
    if (stopped || options.mode === 'none') return;
    timer = setTimeout(() => {
      timer = undefined;
      void check().then(schedule);
    }, options.intervalMs);
    timer.unref();
  };

  const start = (): void => {
    if (started || stopped || options.mode === 'none') return;
    started = true;
    void check().then(schedule);
  };

  return {
    status: () => status,
    get lastError() {
      return lastError;
    },
    reason: () => (status === 'SERVING' ? undefined : status === 'UNKNOWN' ? NOT_CHECKED_YET : lastError),
    start,
    async demand() {
      if (options.mode === 'none' || stopped) return;
      start();
      if (lastResultMs === undefined || now() - lastResultMs > options.intervalMs + options.timeoutMs) await check();
    },
    checkNow: check,
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
