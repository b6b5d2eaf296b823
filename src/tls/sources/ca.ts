// SPDX-License-Identifier: Apache-2.0
// The `ca` certificate source: the sidecar issues its own short-lived leaf for its SPIFFE ID from a CA directory
// made by `meshlet ca init`, and renews it at `rotateAtFraction` of its lifetime. The CA directory is re-read at
// each renewal, so a CA replaced on disk is picked up by the next leaf.

import { createBackoff } from '../../resilience/backoff.js';
import type { Logger } from '../../telemetry/logger.js';
import type { KeyType } from '../ca.js';
import { checkMaterial, type CheckedMaterial } from '../check.js';
import type { CertSource, TlsMaterial } from '../material.js';
import { MAX_TIMER_MS, nextRenewAt, systemRenewClock, type RenewClock } from '../renew.js';
import { createMaterialHolder } from './holder.js';

/** Options of {@link createCaSource}. */
export interface CaSourceOptions {
  /** A CA directory (root.crt, root.key, optional intermediate.crt/.key). */
  readonly dir: string;
  /** The identity to issue for (deriveSpiffeId); must be in the CA's trust domain. */
  readonly spiffeId: string;
  /** Leaf lifetime, ms. Default 86_400_000 (24 h); range 10_000-31_536_000_000. */
  readonly leafTtlMs?: number;
  /** Default `ecdsa-p256`. */
  readonly keyType?: KeyType;
  /** Renew once this fraction of the lifetime has passed. Default 0.5; range 0.1-0.9. */
  readonly rotateAtFraction?: number;
  /** Retry delays after a failed renewal: full jitter from `baseMs`, capped at `maxMs`. Default 1 s .. 60 s. */
  readonly retry?: { readonly baseMs: number; readonly maxMs: number };
  readonly log: Logger;
  /** Default: Date.now and unref'd Node timers. */
  readonly clock?: RenewClock;
  /** Uniform [0, 1) for the retry jitter. Default Math.random. */
  readonly random?: () => number;
}

/** The ca source; `renew()` issues a new leaf now (tests, admin). */
export interface CaCertSource extends CertSource {
  renew(): Promise<TlsMaterial>;
}

/**
 * Creates the source; nothing is read before `start()`. Renewal cycle:
 * 1. start: load the CA, issue a leaf, check it like any other material → generation 1 (a failure rejects
 *    `start` naming the CA file and reason); schedule (2).
 * 2. At rotateAtFraction of the time from issuance to notAfter (nextRenewAt): reload the CA directory and issue a new leaf →
 *    generation + 1; schedule (2) again.
 * 3. A failed renewal keeps the current leaf, warns, and retries after a jittered backoff, but never later than
 *    the current leaf's expiry.
 * Timers are unref'd and cleared by close(); a renewal finishing after close() publishes nothing.
 */
export function createCaSource(options: CaSourceOptions): CaCertSource {
  const log = options.log.child({ component: 'tls', source: 'ca' });
  const clock = options.clock ?? systemRenewClock;
  const fraction = options.rotateAtFraction ?? 0.5;
  const holder = createMaterialHolder(log);
  const backoff = createBackoff({
    baseMs: options.retry?.baseMs ?? 1000,
    maxMs: options.retry?.maxMs ?? 60_000,
    random: options.random ?? Math.random,
  });
  let timer: unknown;
  let closed = false;
  let starting: Promise<TlsMaterial> | undefined;

  const issue = async (): Promise<CheckedMaterial> => {
    // The certificate library loads with the first leaf, so sidecars with other sources (or none) never load it.
    const { issueLeaf, loadCa } = await import('../ca.js');
    const ca = await loadCa(options.dir);
    const leaf = await issueLeaf(ca, {
      spiffeId: options.spiffeId,
      ttlMs: options.leafTtlMs ?? 86_400_000,
      keyType: options.keyType ?? 'ecdsa-p256',
      now: () => clock.now(),
    });
    const origin = { chain: `${options.dir} (issued leaf)`, key: `${options.dir} (issued key)`, bundle: `${options.dir}/root.crt` };
    return checkMaterial({ certChainPem: leaf.chainPem, keyPem: leaf.keyPem, trustBundlePem: leaf.trustBundlePem }, origin, clock.now());
  };

  // The lifetime counts from issuance, not from notBefore: notBefore is back-dated for clock skew (CLOCK_SKEW_MS),
  // and with a short leaf that minute would otherwise put the renewal in the past at once, renewing in a loop.
  const schedule = (m: TlsMaterial, issuedAt: number): void => {
    if (closed) return;
    const at = nextRenewAt(Math.max(issuedAt, m.notBefore.getTime()), m.notAfter, fraction, clock.now());
    arm(at - clock.now());
  };

  const arm = (delayMs: number): void => {
    if (timer !== undefined) clock.clearTimeout(timer);
    const dueAt = clock.now() + Math.max(0, delayMs);
    timer = clock.setTimeout(() => {
      timer = undefined;
      // Timers are capped (MAX_TIMER_MS, about 24.8 days); a half-life beyond that takes several hops.
      if (clock.now() < dueAt) arm(dueAt - clock.now());
      else void renewNow().catch(() => undefined);
    }, Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
  };

  const publish = (next: CheckedMaterial): TlsMaterial => {
    const m = holder.publish(next) ?? (holder.current() as TlsMaterial);
    log.info({ generation: m.generation, identity: m.identity, notAfter: m.notAfter.toISOString() }, 'leaf issued');
    return m;
  };

  const renewNow = async (): Promise<TlsMaterial> => {
    try {
      const issuedAt = clock.now();
      const next = await issue();
      if (closed) return holder.current() as TlsMaterial;
      backoff.reset();
      const m = publish(next);
      schedule(m, issuedAt);
      return m;
    } catch (err) {
      if (!closed) {
        const current = holder.current();
        const untilExpiry = current === undefined ? Infinity : current.notAfter.getTime() - clock.now();
        const delay = Math.min(backoff.next(), Math.max(0, untilExpiry));
        log.warn({ err: (err as Error).message, generation: current?.generation, retryInMs: delay }, 'leaf renewal failed; keeping the current leaf');
        arm(delay);
      }
      throw err;
    }
  };

  return {
    kind: 'ca',
    start() {
      // A failed start may be retried; a successful one is shared.
      starting ??= (async () => {
        const issuedAt = clock.now();
        const m = publish(await issue());
        schedule(m, issuedAt);
        return m;
      })().catch((err: unknown) => {
        starting = undefined;
        throw err;
      });
      return starting;
    },
    current: holder.current,
    onChange: holder.onChange,
    renew: renewNow,
    close() {
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      holder.clear();
    },
  };
}
