// SPDX-License-Identifier: Apache-2.0
// The `consul` certificate source: Consul Connect's CA through the local agent. Two blocking-query loops, one on
// /v1/agent/connect/ca/roots (the trust bundle: every root Consul lists, so peers keep verifying during a CA
// rotation) and one on /v1/agent/connect/ca/leaf/:service (the agent renews the leaf and the blocked read returns
// it), so rotation is pushed, not polled. Follows the project's Consul rules (docs/decisions.md §8, STYLE §7):
// index reset when it goes backwards, index >= 1, paced requests, full-jitter backoff on errors with an immediate
// non-blocking read after recovery, and the last good material kept throughout.

import type { BlockingResult, ConnectCaLeaf, ConnectCaRoots, ConsulClient } from '../../discovery/consul/client.js';
import type { ReloadResult } from '../../config/reload-result.js';
import { createBackoff } from '../../resilience/backoff.js';
import type { Logger } from '../../telemetry/logger.js';
import { checkMaterial, type CheckedMaterial } from '../check.js';
import type { CertSource, TlsMaterial } from '../material.js';
import { systemRenewClock, type RenewClock } from '../renew.js';
import { splitPemCertificates } from '../pem.js';
import { createMaterialHolder } from './holder.js';

/** Options of {@link createConsulSource}. */
export interface ConsulSourceOptions {
  readonly client: ConsulClient;
  /** The Consul service whose leaf this sidecar presents (config `mtls.source.consul.service`, else service.name). */
  readonly service: string;
  readonly log: Logger;
  /** Blocking `wait`, ms. Default 300_000 (5 min; CA data changes rarely); range 1000-600_000. */
  readonly waitMs?: number;
  /** Least time between two requests of one loop, ms (consul-template's pacing). Default 100. */
  readonly minIntervalMs?: number;
  /** Backoff after a failed request: full jitter from `baseMs`, capped at `maxMs`. Default 250 ms .. 30 s. */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
  /** How long `start()` waits for the first valid material before rejecting with the last error, ms. Default 30_000. */
  readonly startTimeoutMs?: number;
  /** Default: Date.now and unref'd Node timers. */
  readonly clock?: RenewClock;
  /** Uniform [0, 1) for the backoff jitter. Default Math.random. */
  readonly random?: () => number;
  /** Each attempt to build material from new Consul data: applied, rejected (invalid), unchanged. */
  readonly onReload?: (result: ReloadResult) => void;
}

/** What /certs and readiness may show about the two loops. */
export interface ConsulSourceStatus {
  readonly rootsIndex: string;
  readonly leafIndex: string;
  readonly consecutiveErrors: number;
  readonly lastError: string | undefined;
}

export interface ConsulCertSource extends CertSource {
  status(): ConsulSourceStatus;
}

interface Loop<T> {
  index: bigint;
  value: T | undefined;
  timer: unknown;
  inflight: AbortController | undefined;
  lastRequestAt: number;
  errors: number;
}

/**
 * Creates the source; no request is sent before `start()`. Per loop (roots, leaf):
 * 1. Send the read with the kept index (0, a non-blocking read, at first and after an error).
 * 2. On a response with index X for a read that blocked on I: X < I → the index went backwards (agent restart,
 *    snapshot restore): keep 0; else keep max(X, 1). Store the value and try to build material (3). Send the next
 *    read no sooner than `minIntervalMs` after the previous one started.
 * 3. With both roots and a leaf: chain = leaf CertPEM + the active root's intermediates it lacks; bundle = every
 *    root. Checked like any material; valid and different → generation + 1; invalid (e.g. a leaf from a new root
 *    whose roots read has not returned yet) → warn, keep the current generation, wait for the next change.
 * 4. On an error: warn, keep everything, back off with full jitter, then read with index 0 so recovery is seen
 *    at once.
 * `close()` aborts both reads in flight and clears every timer.
 */
export function createConsulSource(options: ConsulSourceOptions): ConsulCertSource {
  const { client, service } = options;
  const log = options.log.child({ component: 'tls', source: 'consul', service });
  const clock = options.clock ?? systemRenewClock;
  const waitMs = options.waitMs ?? 300_000;
  const minIntervalMs = options.minIntervalMs ?? 100;
  const holder = createMaterialHolder(log);
  const backoff = createBackoff({
    baseMs: options.backoff?.baseMs ?? 250,
    maxMs: options.backoff?.maxMs ?? 30_000,
    random: options.random ?? Math.random,
  });
  const leafPath = `/v1/agent/connect/ca/leaf/${service}`;
  const origin = { chain: `consul ${leafPath}`, key: `consul ${leafPath} (PrivateKeyPEM)`, bundle: 'consul /v1/agent/connect/ca/roots' };
  const roots: Loop<ConnectCaRoots> = { index: 0n, value: undefined, timer: undefined, inflight: undefined, lastRequestAt: -Infinity, errors: 0 };
  const leaf: Loop<ConnectCaLeaf> = { index: 0n, value: undefined, timer: undefined, inflight: undefined, lastRequestAt: -Infinity, errors: 0 };
  let closed = false;
  let started = false;
  let lastError: string | undefined;
  let lastRejected: string | undefined;
  let firstWaiters: Array<{ resolve: (m: TlsMaterial) => void; reject: (e: Error) => void }> = [];
  let startTimer: unknown;

  const build = (): void => {
    if (roots.value === undefined || leaf.value === undefined) return;
    const active = roots.value.Roots.find((r) => r.ID === roots.value?.ActiveRootID);
    const leafCerts = splitPemCertificates(leaf.value.CertPEM);
    const extra = (active?.IntermediateCerts ?? [])
      .flatMap((p) => splitPemCertificates(p))
      .filter((p) => !leafCerts.some((c) => c.trim() === p.trim()));
    const pem = {
      certChainPem: [...leafCerts, ...extra].join(''),
      keyPem: leaf.value.PrivateKeyPEM,
      trustBundlePem: roots.value.Roots.flatMap((r) => splitPemCertificates(r.RootCert)).join(''),
    };
    let next: CheckedMaterial;
    try {
      next = checkMaterial(pem, origin, clock.now());
    } catch (err) {
      const message = (err as Error).message;
      if (message !== lastRejected) {
        lastRejected = message;
        log.warn({ err: message, generation: holder.current()?.generation }, 'Consul CA material rejected; keeping the current certificates');
        options.onReload?.('rejected');
      }
      return;
    }
    lastRejected = undefined;
    const published = holder.publish(next);
    if (published === undefined) {
      options.onReload?.('unchanged');
      return;
    }
    log.info(
      { generation: published.generation, identity: published.identity, serial: leaf.value.SerialNumber, notAfter: published.notAfter.toISOString() },
      'certificates from Consul Connect',
    );
    options.onReload?.('applied');
    const waiters = firstWaiters;
    firstWaiters = [];
    if (startTimer !== undefined) clock.clearTimeout(startTimer);
    startTimer = undefined;
    for (const w of waiters) w.resolve(published);
  };

  const run = <T>(loop: Loop<T>, name: string, read: (q: { index: bigint; waitMs: number; signal: AbortSignal }) => Promise<BlockingResult<T>>): void => {
    const step = (): void => {
      loop.timer = undefined;
      if (closed) return;
      const controller = new AbortController();
      loop.inflight = controller;
      loop.lastRequestAt = clock.now();
      const sent = loop.index;
      read({ index: sent, waitMs, signal: controller.signal }).then(
        (res) => {
          if (closed || loop.inflight !== controller) return;
          loop.inflight = undefined;
          loop.errors = 0;
          lastError = roots.errors + leaf.errors === 0 ? undefined : lastError;
          backoff.reset();
          if (sent > 0n && res.index < sent) {
            log.warn({ loop: name, from: String(sent), to: String(res.index) }, 'consul index went backwards; resetting');
            loop.index = 0n;
          } else {
            loop.index = res.index < 1n ? 1n : res.index;
          }
          loop.value = res.value;
          build();
          const wait = Math.max(0, loop.lastRequestAt + minIntervalMs - clock.now());
          loop.timer = clock.setTimeout(step, wait);
        },
        (err: unknown) => {
          if (closed || loop.inflight !== controller) return;
          loop.inflight = undefined;
          loop.errors += 1;
          lastError = (err as Error).message;
          loop.index = 0n;
          const delay = backoff.next();
          log.warn({ loop: name, err: lastError, consecutiveErrors: loop.errors, retryInMs: delay, generation: holder.current()?.generation }, 'Consul CA read failed; keeping the current certificates');
          loop.timer = clock.setTimeout(step, delay);
        },
      );
    };
    loop.timer = clock.setTimeout(step, 0);
  };

  const stop = (loop: Loop<unknown>): void => {
    if (loop.timer !== undefined) clock.clearTimeout(loop.timer);
    loop.timer = undefined;
    loop.inflight?.abort();
    loop.inflight = undefined;
  };

  return {
    kind: 'consul',
    start() {
      const current = holder.current();
      if (current !== undefined) return Promise.resolve(current);
      if (closed) return Promise.reject(new Error('consul certificate source is closed'));
      const first = new Promise<TlsMaterial>((resolve, reject) => firstWaiters.push({ resolve, reject }));
      if (!started) {
        started = true;
        run(roots, 'roots', (q) => client.connectCaRoots(q));
        run(leaf, 'leaf', (q) => client.connectCaLeaf(service, q));
        const timeoutMs = options.startTimeoutMs ?? 30_000;
        startTimer = clock.setTimeout(() => {
          startTimer = undefined;
          const why = lastRejected ?? lastError ?? 'no answer';
          const err = new Error(`consul ${leafPath} and /v1/agent/connect/ca/roots: no valid certificate after ${timeoutMs} ms: ${why}`);
          const waiters = firstWaiters;
          firstWaiters = [];
          for (const w of waiters) w.reject(err);
        }, timeoutMs);
      }
      return first;
    },
    current: holder.current,
    onChange: holder.onChange,
    status: () => ({
      rootsIndex: String(roots.index),
      leafIndex: String(leaf.index),
      consecutiveErrors: roots.errors + leaf.errors,
      lastError,
    }),
    close() {
      if (closed) return;
      closed = true;
      stop(roots as Loop<unknown>);
      stop(leaf as Loop<unknown>);
      if (startTimer !== undefined) clock.clearTimeout(startTimer);
      startTimer = undefined;
      const waiters = firstWaiters;
      firstWaiters = [];
      for (const w of waiters) w.reject(new Error('consul certificate source closed before the first certificate'));
      holder.clear();
    },
  };
}
