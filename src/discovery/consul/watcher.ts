// SPDX-License-Identifier: Apache-2.0
// The Consul blocking-query loop for one backend: GET /v1/health/service/:name?passing&index&wait, turned into
// Resolution results. Follows Consul's blocking-query rules (api-docs/features/blocking.mdx): index reset, index
// >= 1, a rate limit on the loop (paced like consul-template, ~one read per 100 ms at most); plus full-jitter
// backoff on errors, capped low so the first read after an outage is never far away. Used by resolver.ts.

import { createTokenBucket, type TokenBucket } from '../../ratelimit/token-bucket.js';
import { createBackoff } from '../../resilience/backoff.js';
import { endpointFromAddress, type Endpoint, type EndpointChanges, type Resolution } from '../resolver.js';
import { BAD_RESPONSE_REASONS, ConsulError, type BadResponseReason, type ConsulClient, type HealthEntrySink, type HealthServiceEntry } from './client.js';

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
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Backoff after a failed request (full jitter). */
export interface WatcherBackoff {
  /** Upper bound of the first delay, ms. Default 100; range 1-60_000. */
  readonly baseMs: number;
  /**
   * Cap of the upper bound, ms. Default 800; range baseMs-300_000. It is also the longest a watch can stay
   * stale once the agent is back (the retry in progress must run out first), hence well under 1 s by default.
   */
  readonly maxMs: number;
}

/** Default {@link ConsulWatcherOptions.minIntervalMs}. */
export const DEFAULT_MIN_INTERVAL_MS = 100;
/** Default {@link ConsulWatcherOptions.backoff}. */
export const DEFAULT_BACKOFF: WatcherBackoff = Object.freeze({ baseMs: 100, maxMs: 800 });
/** Default {@link ConsulWatcherOptions.logIntervalMs}. */
export const DEFAULT_LOG_INTERVAL_MS = 10_000;

export interface ConsulWatcherOptions {
  readonly client: ConsulClient;
  /** The Consul service name (meshlet's backend name). */
  readonly service: string;
  /**
   * Called with every result, never synchronously from `createConsulWatcher` and never after `close()`. Each ok
   * result is the whole set, sorted by address (O(n log n) to build: the resolver uses `onUpdate` instead).
   */
  readonly onResult?: (result: Resolution) => void;
  /**
   * Called like `onResult`, with each ok result as the changes since the last ok result (the first: every
   * endpoint, as `upserted`). The whole current set is `ConsulWatcher.endpoints()`.
   */
  readonly onUpdate?: (result: WatcherUpdate) => void;
  /** Blocking `wait`, ms. Default 30_000; range 1000-600_000 (config `consul.waitMs`). */
  readonly waitMs?: number;
  /**
   * Least time between the starts of two reads of this watch, ms (a token bucket of one token, refilled every
   * this many ms; errors take it too). Default 100 (consul-template's pace); range 0-60_000, 0 = unpaced. A
   * blocking read that parked longer than this is re-issued at once, so quiet backends never wait; a backend
   * that changes constantly gets one read per interval, and every change landing meanwhile is coalesced into
   * that read. Config `consul.watch.minIntervalMs`.
   */
  readonly minIntervalMs?: number;
  /**
   * Share of one core this watch's reads may use: after a read whose answer cost C ms of CPU (the HTTP read, the
   * parse and the GC while the body arrived, then the diff and the subscribers), the next read waits
   * C × (1/cpuShare − 1) ms, so C / (C + wait) = cpuShare. C is the whole process's CPU time in that window, so
   * a proxy busy with calls meanwhile reads large backends less often. Only large, busy backends feel it: a 100-instance
   * answer costs ~1 ms (a 28 ms gap, under `minIntervalMs`); a 10,000-instance one ~60-90 ms once warm, so under
   * constant churn it is read every ~2 s, each read taking in every change since the last. What runs outside the
   * reads (the GC of their garbage, timers) is not counted: for 10,000 instances it adds about one point (measured
   * 4.8-5.2 % of a core in all at 0.04), which the default leaves room for under 5 %. Default 0.035; range 0.001-1.
   * Config `consul.watch.cpuShare`.
   */
  readonly cpuShare?: number;
  /**
   * Cap of the wait `cpuShare` adds, ms: what keeps changes visible within a few seconds when one read costs more
   * than usual (the first reads of a large answer also pay for compiling the reader; an answer of 30,000+
   * instances). A change then shows within about this plus two reads. Default 3000; range 0-600_000.
   * Config `consul.watch.maxCostWaitMs`.
   */
  readonly maxCostWaitMs?: number;
  /** Delay after an error, before the next read. Default {@link DEFAULT_BACKOFF}. */
  readonly backoff?: WatcherBackoff;
  /**
   * Warn logs of a failing watch (errors, ignored answers): the first of a streak at once, then at most one per
   * this many ms, carrying how many were folded into it. Default 10_000; range 0-3_600_000.
   */
  readonly logIntervalMs?: number;
  /** Default {@link systemClock}. */
  readonly clock?: WatcherClock;
  /** Uniform [0, 1) for the backoff jitter. Default Math.random. */
  readonly random?: () => number;
  /** Monotonic ms that measure the cost of handling an answer (see `cpuShare`). Default: this process's CPU time. */
  readonly costClock?: () => number;
  /** Default: no logging. */
  readonly log?: WatcherLogger;
}

/** What {@link ConsulWatcherOptions.onUpdate} is given. */
export type WatcherUpdate =
  | { readonly ok: true; readonly changes: EndpointChanges }
  | { readonly ok: false; readonly error: Error };

/** Default {@link ConsulWatcherOptions.cpuShare}. */
export const DEFAULT_CPU_SHARE = 0.035;
/** Default {@link ConsulWatcherOptions.maxCostWaitMs}. */
export const DEFAULT_MAX_COST_WAIT_MS = 3000;

/** This process's CPU time (user + system, every thread), ms. */
function processCpuMs(): number {
  const cpu = process.cpuUsage();
  return (cpu.user + cpu.system) / 1000;
}

/** What /ready and the metrics read. */
export interface WatcherStatus {
  readonly service: string;
  /** False once closed. */
  readonly running: boolean;
  /** Wall time (ms) of the last successful response; undefined before the first. */
  readonly lastSuccessAt: number | undefined;
  /** Failed or ignored reads since the last success (0 when healthy). */
  readonly consecutiveErrors: number;
  /** Message of the last error, if the latest request failed or its answer was ignored. */
  readonly lastError: string | undefined;
  /** The index the next request blocks on (0 = the next request is a non-blocking read). */
  readonly lastIndex: number;
  /** Endpoints in the last good set. */
  readonly endpoints: number;
  /** Counters since start: requests sent, errors (no usable answer: transport, HTTP), index resets, ok results. */
  readonly requests: number;
  readonly errors: number;
  readonly indexResets: number;
  readonly updates: number;
  /** Answers ignored because they were unusable (2xx but truncated, not JSON, missing fields, too large). */
  readonly badResponses: Readonly<Record<BadResponseReason, number>>;
}

export interface ConsulWatcher {
  status(): WatcherStatus;
  /** The current set (the last one emitted, or the last good one after errors), sorted by address. O(n log n). */
  endpoints(): Endpoint[];
  /** Aborts the request in flight and cancels any timer; no result is delivered afterwards. Idempotent. */
  close(): void;
}

/**
 * Starts watching `service`. The loop, per iteration:
 *
 * 1. Pace: wait until `minIntervalMs` has passed since the previous read started, and until that read's cost
 *    divided by `cpuShare` has, at most `maxCostWaitMs` (both 0 after a long blocking read of a small backend).
 * 2. Send the query. The index sent is the one kept from the last response; 0 (not sent, a non-blocking read) on
 *    the very first request, after an index reset (3) and after a failure (5).
 * 3. On a response with index X: if the request blocked on index I and X < I, the index went backwards
 *    (snapshot restore, agent restart): keep 0 so the next read starts over. Otherwise keep max(X, 1): an index
 *    of 0 would make every following "blocking" read return at once (blocking.mdx, "Sanity check").
 * 4. Diff the entries against the current set (an entry whose fingerprint the set holds is not even parsed),
 *    reusing the Endpoint of every instance whose address, weight and meta are unchanged, and emit `{ok: true}` when anything was added, changed or removed (or an error was
 *    emitted since). A blocking read returning unchanged data is normal and emits nothing. Go to 1.
 * 5. On a failure, wait a full-jitter backoff (at most `backoff.maxMs`), then go to 1:
 *    a. transport or HTTP error: emit `{ok: false}` once per streak (consumers keep their last good set);
 *    b. an unusable 2xx answer (truncated, not JSON, missing fields): emit nothing, count it by reason.
 *    Both warn at a rate-limited pace. The next read does not block, so recovery is reported as soon as the
 *    agent answers, and the blocking read after it is paced by step 1 only.
 */
export function createConsulWatcher(options: ConsulWatcherOptions): ConsulWatcher {
  const { client, service, onResult, onUpdate, log } = options;
  const clock = options.clock ?? systemClock;
  const waitMs = options.waitMs ?? 30_000;
  const minIntervalMs = options.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS;
  const logIntervalMs = options.logIntervalMs ?? DEFAULT_LOG_INTERVAL_MS;
  if (!(minIntervalMs >= 0)) throw new RangeError(`minIntervalMs must be >= 0, got ${minIntervalMs}`);
  const bucket: TokenBucket | undefined =
    minIntervalMs > 0
      ? createTokenBucket({ capacity: 1, refillPerSecond: 1000 / minIntervalMs, now: () => clock.now() })
      : undefined;
  const cpuShare = options.cpuShare ?? DEFAULT_CPU_SHARE;
  if (!(cpuShare > 0 && cpuShare <= 1)) throw new RangeError(`cpuShare must be in (0, 1], got ${cpuShare}`);
  const maxCostWaitMs = options.maxCostWaitMs ?? DEFAULT_MAX_COST_WAIT_MS;
  if (!(maxCostWaitMs >= 0)) throw new RangeError(`maxCostWaitMs must be >= 0, got ${maxCostWaitMs}`);
  const costClock = options.costClock ?? processCpuMs;
  const backoff = createBackoff({
    ...(options.backoff ?? DEFAULT_BACKOFF),
    random: options.random ?? Math.random,
  });

  let closed = false;
  let index = 0n;
  let timer: unknown;
  let inflight: AbortController | undefined;
  /** The current set (the last one emitted), kept between reads. */
  const current = createEndpointSet();
  let emittedOnce = false;
  /** Earliest start of the next read allowed by the last read's cost (`cpuShare`), clock ms. */
  let costGateAt = 0;
  /** An `{ok: false}` was emitted after the last `{ok: true}`. */
  let errorEmitted = false;
  let endpoints = 0;
  let lastSuccessAt: number | undefined;
  let failingSince: number | undefined;
  let consecutiveErrors = 0;
  let lastError: string | undefined;
  let requests = 0;
  let errors = 0;
  let indexResets = 0;
  let updates = 0;
  const badResponses = Object.fromEntries(BAD_RESPONSE_REASONS.map((r) => [r, 0])) as Record<BadResponseReason, number>;
  /** Rate-limited warn logs: when the last line of each kind was written, and how many were folded since. */
  const logged = new Map<string, { at: number; folded: number }>();

  const warnLimited = (kind: string, fields: object, msg: string): void => {
    if (log === undefined) return;
    const t = clock.now();
    const seen = logged.get(kind);
    if (seen !== undefined && t - seen.at < logIntervalMs) {
      seen.folded += 1;
      return;
    }
    log.warn({ ...fields, folded: seen?.folded ?? 0 }, msg);
    logged.set(kind, { at: t, folded: 0 });
  };

  const emit = (changes: EndpointChanges | undefined, error?: Error): void => {
    if (closed) return;
    try {
      if (changes !== undefined) {
        onUpdate?.({ ok: true, changes });
        if (onResult !== undefined && !closed) onResult({ ok: true, endpoints: sortedEndpoints(current) });
      } else if (error !== undefined) {
        onUpdate?.({ ok: false, error });
        if (onResult !== undefined && !closed) onResult({ ok: false, error });
      }
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
    const waitForCost = Math.ceil(costGateAt - clock.now());
    const waitForToken = bucket?.msUntilAvailable() ?? 0;
    if (waitForCost > 0 || waitForToken > 0) {
      schedule(Math.max(waitForCost, waitForToken));
      return;
    }
    bucket?.tryTake();
    const sentIndex = index;
    const controller = new AbortController();
    inflight = controller;
    requests += 1;
    // Entries are diffed as they arrive (step 4), so the answer itself is never held; committed on success only.
    const diff = createEntryDiff(current, (address, err) => {
      // One bad registration must not freeze the whole backend: skip it, loudly (one line per answer).
      if (diff.invalid === 1) log?.warn({ service, address, err }, 'consul instance skipped: unusable address');
    });
    client
      .healthService({
        service,
        passing: true,
        index: sentIndex,
        waitMs,
        signal: controller.signal,
        sink: diff,
      })
      .then(
        (res) => {
          if (closed || inflight !== controller) return;
          inflight = undefined;
          onResponse(sentIndex, res.index, diff, res.costMs ?? 0);
        },
        (err: unknown) => {
          if (closed || inflight !== controller) return;
          inflight = undefined;
          onFailure(err instanceof Error ? err : new Error(String(err)));
        },
      );
  };

  const onResponse = (sentIndex: bigint, newIndex: bigint, diff: EntryDiff, readCostMs: number): void => {
    const t0 = costClock();
    const now = clock.now();
    if (failingSince !== undefined) {
      log?.info({ service, failedReads: consecutiveErrors, downMs: now - failingSince }, 'consul watch recovered');
    }
    lastSuccessAt = now;
    failingSince = undefined;
    consecutiveErrors = 0;
    lastError = undefined;
    logged.clear();
    backoff.reset();
    if (sentIndex > 0n && newIndex < sentIndex) {
      indexResets += 1;
      index = 0n;
      log?.warn({ service, from: String(sentIndex), to: String(newIndex) }, 'consul index went backwards; resetting');
    } else {
      index = newIndex < 1n ? 1n : newIndex;
    }
    const changes = diff.finish();
    if (changes.changed || !emittedOnce || errorEmitted) {
      emittedOnce = true;
      errorEmitted = false;
      endpoints = current.byAddress.size;
      updates += 1;
      emit(changes);
    }
    // The cost C of this answer (read, parse, diff, subscribers) spaces the next read (step 1): a gap of
    // C × (1/cpuShare − 1) after it makes the busy share C / (C + gap) = cpuShare; cpuShare 1 adds no gap. The
    // cap keeps an expensive read (a cold reader, a huge answer) from hiding changes for long.
    const costMs = readCostMs + (costClock() - t0);
    costGateAt = clock.now() + Math.min(costMs * (1 / cpuShare - 1), maxCostWaitMs);
    step();
  };

  const onFailure = (error: Error): void => {
    const now = clock.now();
    consecutiveErrors += 1;
    failingSince ??= now;
    lastError = error.message;
    // Re-read without blocking once the agent answers again, so consumers learn it at once (step 5).
    index = 0n;
    const delay = backoff.next();
    const bad = error instanceof ConsulError ? error.badResponse : undefined;
    if (bad !== undefined) {
      badResponses[bad] += 1;
      warnLimited(`bad ${bad}`, { service, err: error.message, reason: bad, retryInMs: delay }, 'consul answer ignored; keeping the last endpoints');
    } else {
      errors += 1;
      warnLimited('error', { service, err: error.message, consecutiveErrors, retryInMs: delay }, 'consul watch failed');
      if (!errorEmitted) {
        errorEmitted = true;
        emit(undefined, error);
      }
    }
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
        badResponses: { ...badResponses },
      };
    },
    endpoints: () => sortedEndpoints(current),
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

/** The address an entry is dialled at: `Service.Address`, else `Node.Address`; IPv6 hosts bracketed. */
function entryAddress(e: HealthServiceEntry): string {
  const host = e.Service.Address !== '' ? e.Service.Address : e.Node.Address;
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${bracketed}:${e.Service.Port}`;
}

function sameMeta(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  let n = 0;
  for (const k in b) {
    if (a[k] !== b[k]) return false;
    n += 1;
  }
  return Object.keys(a).length === n;
}

/**
 * A 53-bit fingerprint (health-stream.ts) is kept as two small integers, so that a held endpoint costs no boxed
 * number (nor does its map key): the low 30 bits key {@link EndpointSet.byFingerprint}, the high 23 confirm a
 * match. Two held entries whose low bits collide (about one pair in 20 sets of 10,000) share a key: the map keeps
 * one of them and the other is parsed on every read, which is still correct. Equality needs all 53 bits, as before.
 */
const FINGERPRINT_KEY_SPAN = 0x40000000;
/** `fingerprintKey` / `fingerprintCheck` of an endpoint held without a fingerprint. */
const NO_FINGERPRINT = -1;

// `| 0` makes each half an int32, which V8 keeps unboxed (a small integer); `%` or `/` alone give a double that it
// boxes, in the field and as the map key (24 bytes more per endpoint, measured). Both halves are below 2^30.
function fingerprintKey(fingerprint: number): number {
  return (fingerprint % FINGERPRINT_KEY_SPAN) | 0;
}
function fingerprintCheck(fingerprint: number): number {
  return (fingerprint / FINGERPRINT_KEY_SPAN) | 0;
}

/** One endpoint of an {@link EndpointSet}, with what the diff of each read needs. */
class HeldEndpoint {
  /** The low 30 bits of the fingerprint of the answer entry it came from, or NO_FINGERPRINT. */
  readonly fingerprintKey: number;
  /** The high 23 bits of that fingerprint, or NO_FINGERPRINT. */
  readonly fingerprintCheck: number;
  constructor(
    readonly endpoint: Endpoint,
    fingerprint: number | undefined,
    /** The read that last saw it ({@link EndpointSet.generation}). */
    public seen: number,
  ) {
    this.fingerprintKey = fingerprint === undefined ? NO_FINGERPRINT : fingerprintKey(fingerprint);
    this.fingerprintCheck = fingerprint === undefined ? NO_FINGERPRINT : fingerprintCheck(fingerprint);
  }
  /** True when it came from an entry with this fingerprint. */
  hasFingerprint(fingerprint: number): boolean {
    return this.fingerprintKey === fingerprintKey(fingerprint) && this.fingerprintCheck === fingerprintCheck(fingerprint);
  }
}

/**
 * The current endpoint set of one watch, kept between reads so that reading an unchanged answer allocates
 * nothing: no new map, no endpoint, not even the parsed entry (an entry whose fingerprint is held is not parsed).
 * Mutated only by {@link createEntryDiff}: `seen` marks during a read, everything else on `finish()`.
 */
export interface EndpointSet {
  readonly byAddress: Map<string, HeldEndpoint>;
  /** By the low 30 bits of their fingerprints (see FINGERPRINT_KEY_SPAN). */
  readonly byFingerprint: Map<number, HeldEndpoint>;
  /** Bumped by each read. */
  generation: number;
}

/** An empty set, or one holding `endpoints` (by address; without fingerprints). */
export function createEndpointSet(endpoints: ReadonlyMap<string, Endpoint> = new Map()): EndpointSet {
  const byAddress = new Map<string, HeldEndpoint>();
  for (const [address, endpoint] of endpoints) byAddress.set(address, new HeldEndpoint(endpoint, undefined, 0));
  return { byAddress, byFingerprint: new Map(), generation: 0 };
}

/**
 * An answer being diffed against an {@link EndpointSet}, entry by entry (see {@link createEntryDiff}). It is the
 * client's {@link HealthEntrySink} for the read.
 */
export interface EntryDiff extends HealthEntrySink {
  /**
   * True when the set holds an endpoint made from an entry with this fingerprint: the entry is then taken as
   * unchanged without being parsed.
   */
  known(fingerprint: number): boolean;
  /** Takes the next entry of the answer (one `known` did not claim), with its fingerprint when there is one. */
  add(entry: HealthServiceEntry, fingerprint?: number): void;
  /** Entries left out so far because their address is unusable. */
  readonly invalid: number;
  /**
   * Ends the read (call once, and only for an answer read whole): applies it to the set and says whether an
   * address was added, changed or removed, and which (O(changes), plus a pass over the held set when something
   * was removed). An unchanged answer leaves the set as it was.
   */
  finish(): EndpointChanges & { changed: boolean };
}

/**
 * Diffs an answer against `set` (by address), entry by entry: an instance whose weight and meta are unchanged
 * keeps its Endpoint object, so an unchanged answer allocates no endpoint and the caller emits nothing. Rules: the
 * address is `Service.Address`, else `Node.Address` (IPv6 bracketed), with `Service.Port`; weight
 * `Weights.Passing` (at least 1); meta `Service.Meta`; the first entry of an address wins; an entry whose address
 * is not a valid host:port (e.g. Port 0) is left out and reported to `onInvalid`. The set changes only in
 * `finish()`, so a read that fails half way leaves it as it was (its `seen` marks are stale from the next read on).
 */
export function createEntryDiff(set: EndpointSet, onInvalid: (address: string, err: Error) => void = () => {}): EntryDiff {
  return new Differ(set, onInvalid);
}

/** {@link EntryDiff}, as a class: the health reader calls its methods once per entry (see health-stream.ts). */
class Differ implements EntryDiff {
  invalid = 0;
  private readonly generation: number;
  /** Added or changed endpoints, and kept ones whose entry got a new fingerprint (`changed` false), by address. */
  private readonly pending = new Map<string, { readonly held: HeldEndpoint; readonly changed: boolean }>();
  private kept = 0;
  private replaced = 0;
  private changed = false;

  constructor(
    private readonly set: EndpointSet,
    private readonly onInvalid: (address: string, err: Error) => void,
  ) {
    set.generation += 1;
    this.generation = set.generation;
  }

  known(fingerprint: number): boolean {
    const held = this.set.byFingerprint.get(fingerprintKey(fingerprint));
    if (held === undefined || !held.hasFingerprint(fingerprint)) return false;
    // Another entry of this address came first in this answer (a duplicate address): the first one wins.
    if (this.pending.has(held.endpoint.address)) return true;
    if (held.seen !== this.generation) {
      held.seen = this.generation;
      this.kept += 1;
    }
    return true;
  }

  add(e: HealthServiceEntry, fingerprint?: number): void {
    const generation = this.generation;
    const address = entryAddress(e);
    const previous = this.set.byAddress.get(address);
    if (this.pending.has(address) || previous?.seen === generation) return;
    const weight = Math.max(1, Math.floor(e.Service.Weights.Passing));
    if (previous !== undefined && previous.endpoint.weight === weight && sameMeta(previous.endpoint.meta, e.Service.Meta)) {
      previous.seen = generation;
      this.kept += 1;
      if (fingerprint !== undefined && !previous.hasFingerprint(fingerprint)) {
        this.pending.set(address, { held: new HeldEndpoint(previous.endpoint, fingerprint, generation), changed: false });
      }
      return;
    }
    try {
      const endpoint = endpointFromAddress(address, weight, e.Service.Meta);
      this.pending.set(address, { held: new HeldEndpoint(endpoint, fingerprint, generation), changed: true });
      this.changed = true;
      if (previous !== undefined) this.replaced += 1;
    } catch (err) {
      this.invalid += 1;
      this.onInvalid(address, err as Error);
    }
  }

  finish(): EndpointChanges & { changed: boolean } {
    const set = this.set;
    // Every held address is either seen (kept), replaced (changed), or gone.
    const gone = set.byAddress.size - this.kept - this.replaced;
    const removed: string[] = [];
    if (gone > 0) {
      for (const [address, held] of set.byAddress) {
        if (held.seen !== this.generation && !this.pending.has(address)) {
          forget(set, address, held);
          removed.push(address);
        }
      }
    }
    const upserted: Endpoint[] = [];
    for (const [address, { held, changed: isChange }] of this.pending) {
      const previous = set.byAddress.get(address);
      if (previous !== undefined) forget(set, address, previous);
      set.byAddress.set(address, held);
      if (held.fingerprintKey !== NO_FINGERPRINT) set.byFingerprint.set(held.fingerprintKey, held);
      if (isChange) upserted.push(held.endpoint);
    }
    return { changed: this.changed || gone > 0, upserted, removed };
  }
}

function forget(set: EndpointSet, address: string, held: HeldEndpoint): void {
  set.byAddress.delete(address);
  if (held.fingerprintKey !== NO_FINGERPRINT && set.byFingerprint.get(held.fingerprintKey) === held) set.byFingerprint.delete(held.fingerprintKey);
}

/** {@link createEntryDiff} over a whole answer at once, from and to a plain map (address → Endpoint). */
export function diffEntries(
  current: ReadonlyMap<string, Endpoint>,
  entries: readonly HealthServiceEntry[],
  onInvalid: (address: string, err: Error) => void = () => {},
): { next: Map<string, Endpoint>; changed: boolean } {
  const set = createEndpointSet(current);
  const diff = createEntryDiff(set, onInvalid);
  for (const e of entries) diff.add(e);
  const { changed } = diff.finish();
  return { next: new Map([...set.byAddress].map(([address, held]) => [address, held.endpoint])), changed };
}

function sortedEndpoints(set: EndpointSet): Endpoint[] {
  const out: Endpoint[] = [];
  for (const held of set.byAddress.values()) out.push(held.endpoint);
  return out.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
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
  const set = createEndpointSet();
  const diff = createEntryDiff(set, onInvalid);
  for (const e of entries) diff.add(e);
  diff.finish();
  return sortedEndpoints(set);
}
