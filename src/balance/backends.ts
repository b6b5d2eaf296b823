// SPDX-License-Identifier: Apache-2.0
// The outbound backends: per backend name, the resolver watch (started lazily on first use, stopped when idle),
// the current endpoint set with per-endpoint load carried across updates, and the current Picker snapshot.
// Consulted by the balance layer on every call. A change of k endpoints among n costs O(k) here (issue 13).

import type { Endpoint, EndpointChanges, ResolutionUpdate, Resolver, Watch } from '../discovery/resolver.js';
import type { Logger } from '../telemetry/logger.js';
import { createEndpointLoad } from './endpoint-load.js';
import type { BalancingPolicy, EndpointListStep, EndpointLoad, Picker, PickerEndpoint, PickerEnv } from './picker.js';

/** How one backend is balanced (from config `upstreams.<name>.balancing`). */
export interface BackendBalancing {
  readonly policy: BalancingPolicy<unknown>;
  readonly options: unknown;
  /** ring_hash: the request header whose value is the hash key. */
  readonly hashHeader: string | undefined;
}

export interface BackendsOptions {
  readonly resolver: Resolver;
  /** Whether a backend name may be resolved at all (static names, or any name when Consul is configured). */
  readonly isKnown: (name: string) => boolean;
  readonly balancingFor: (name: string) => BackendBalancing;
  readonly env: PickerEnv;
  readonly log: Logger;
  /** Stop watching a backend no call used for this long; default 300000 ms. */
  readonly idleTimeoutMs?: number;
  /** An endpoint left the set: its pooled sessions should close once idle. */
  readonly onEndpointRemoved?: (address: string) => void;
  /** A backend's endpoint set or resolver status changed (metrics, /clusters). */
  readonly onUpdate?: (backend: Backend) => void;
}

/**
 * When endpoints arrived: one per update, shared by every endpoint it brought, so that an endpoint's load can be
 * made on first use (see {@link BackendEndpoint.load}) and still decay its default estimate from its arrival.
 */
export class EndpointArrival {
  constructor(readonly atMs: number) {}
}

/** A mutable PickerEndpoint: `ready` is flipped by outlier detection without rebuilding the picker. */
export class BackendEndpoint implements PickerEndpoint {
  // Two independent verdicts make `ready`: outlier detection / breakers (`ready = x` sets that part) and
  // active gRPC health checks (`healthy`, src/health/upstream-checker.ts), so neither can undo the other.
  private passiveReady = true;
  /** False while active health checks of this endpoint fail; always true when they are off. */
  healthy = true;
  /** The load once made, else when the endpoint arrived (one field for both: a large backend holds n of them). */
  private loadOrArrival: EndpointLoad | EndpointArrival;
  /** What pickers read: `ready` as last set (outlier detection, breakers) and `healthy`. */
  get ready(): boolean {
    return this.passiveReady && this.healthy;
  }
  set ready(value: boolean) {
    this.passiveReady = value;
  }
  /**
   * The endpoint's load, made on first use (a call sent to it, or least_request comparing it) as it would have
   * been made on arrival: its default estimate decays from the arrival time. An endpoint that nothing calls or
   * compares (most of a 10,000-instance backend that round robin has not reached yet) holds no load (issue 13).
   */
  get load(): EndpointLoad {
    const l = this.loadOrArrival;
    if (!(l instanceof EndpointArrival)) return l;
    return (this.loadOrArrival = createEndpointLoad({ nowMs: l.atMs }));
  }
  /** The load if something has used it, else undefined (for views such as /clusters, which must not make one). */
  get loadIfUsed(): EndpointLoad | undefined {
    const l = this.loadOrArrival;
    return l instanceof EndpointArrival ? undefined : l;
  }
  /** Carries both verdicts and the load over to the replacement of this endpoint (same address, new weight). */
  carryFrom(old: BackendEndpoint): void {
    this.passiveReady = old.passiveReady;
    this.healthy = old.healthy;
    this.loadOrArrival = old.loadOrArrival;
  }
  constructor(
    readonly endpoint: Endpoint,
    load: EndpointLoad | EndpointArrival,
  ) {
    this.loadOrArrival = load;
  }
}

/** What the last ok result changed in a backend's endpoints (see {@link Backend.lastChanges}). */
export interface BackendChanges {
  /** Endpoints added, or replacing the one of the same address (new weight or meta). */
  readonly upserted: readonly BackendEndpoint[];
  /** Addresses that left. */
  readonly removed: readonly string[];
}

/** One logical service the local app calls. */
export class Backend {
  readonly name: string;
  readonly balancing: BackendBalancing;
  picker: Picker | undefined;
  private list: BackendEndpoint[] = [];
  /**
   * The current endpoints, in arrival order; a removed endpoint's place goes to the last one. Changed in place
   * by each update (copy it to keep a set across an await).
   */
  get endpoints(): readonly BackendEndpoint[] {
    return this.list;
  }
  /** Replaces the whole list (tests; Backends changes it in place). O(n). */
  set endpoints(list: readonly BackendEndpoint[]) {
    this.list = list.slice();
    this.positions.clear();
    for (let i = 0; i < list.length; i++) this.positions.set(list[i]!.endpoint.address, i);
  }
  /** The current endpoint of `address`, if any. O(1). */
  endpointAt(address: string): BackendEndpoint | undefined {
    const i = this.positions.get(address);
    return i === undefined ? undefined : this.list[i];
  }
  /**
   * What the last result changed, for `onUpdate` consumers that follow changes in O(changes): empty after an
   * error; every endpoint after the first result.
   */
  lastChanges: BackendChanges = { upserted: [], removed: [] };
  /** @internal Position of each address in `endpoints`. */
  readonly positions = new Map<string, number>();
  /** The resolver's last error, kept while the last good endpoints stay in use. */
  lastError: Error | undefined;
  /** performance.now() of the last result (ok or error). */
  lastResultMs = 0;
  resolved = false;
  lastUsedMs: number;
  watch: Watch | undefined;
  private waiters: Array<() => void> = [];

  constructor(name: string, balancing: BackendBalancing, now: number) {
    this.name = name;
    this.balancing = balancing;
    this.lastUsedMs = now;
  }

  /** Resolves once the first result (endpoints or error) has arrived. */
  whenResolved(): Promise<void> {
    if (this.resolved) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** @internal */
  markResolved(): void {
    this.resolved = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export class Backends {
  private readonly opts: BackendsOptions;
  private readonly backends = new Map<string, Backend>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(opts: BackendsOptions) {
    this.opts = opts;
    const idle = opts.idleTimeoutMs ?? 300_000;
    this.sweeper = setInterval(() => this.sweep(idle), Math.max(1000, Math.min(idle / 2, 60_000)));
    this.sweeper.unref();
  }

  /** The backend for `name`, starting its watch on first use; undefined when the name is not routable. */
  get(name: string): Backend | undefined {
    let b = this.backends.get(name);
    if (b === undefined) {
      if (!this.opts.isKnown(name)) return undefined;
      b = new Backend(name, this.opts.balancingFor(name), this.opts.env.now());
      this.backends.set(name, b);
      this.startWatch(b);
    } else if (b.watch === undefined) {
      this.startWatch(b);
    }
    b.lastUsedMs = this.opts.env.now();
    return b;
  }

  /** Every backend currently known, for /clusters and metrics. */
  list(): Backend[] {
    return [...this.backends.values()];
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const b of this.backends.values()) {
      b.watch?.close();
      b.watch = undefined;
    }
  }

  private startWatch(b: Backend): void {
    const onResult = (r: ResolutionUpdate): void => this.onResult(b, r);
    const resolver = this.opts.resolver;
    b.watch = resolver.watchChanges !== undefined ? resolver.watchChanges(b.name, onResult) : resolver.watch(b.name, onResult);
  }

  /**
   * Applies a result:
   * 1. An error: keep the endpoints and the picker, record the error.
   * 2. Changes (`{ok, changes}`): apply them to the list as EndpointListSteps, O(changes).
   * 3. A whole set: the first one becomes the list as given, in its order; a later one is diffed against the
   *    list by address (O(n), the set's own size) into the same changes as 2.
   * 4. If any step was made, the policy's `updatePicker` brings the picker in line (else `createPicker` builds
   *    it again); no step (the same set again), no picker work. Removed addresses go to `onEndpointRemoved`.
   * An address's BackendEndpoint (its load and readiness) is kept while its weight and meta stay; a replacement
   * (new weight or meta) takes over the load and both readiness verdicts. A new endpoint's load is made on first
   * use (see BackendEndpoint.load).
   */
  private onResult(b: Backend, r: ResolutionUpdate): void {
    b.lastResultMs = this.opts.env.now();
    if (!r.ok) {
      b.lastError = r.error;
      b.lastChanges = { upserted: [], removed: [] };
      this.opts.log.warn({ backend: b.name, err: r.error.message, endpoints: b.endpoints.length }, 'discovery failed; keeping the last endpoints');
      b.markResolved();
      this.opts.onUpdate?.(b);
      return;
    }
    b.lastError = undefined;
    const balancing = b.balancing;
    const list = b.endpoints as BackendEndpoint[];
    const arrival = new EndpointArrival(this.opts.env.now());
    if (b.picker === undefined && r.endpoints !== undefined) {
      // The first set: taken as it is.
      for (const ep of r.endpoints) {
        if (b.positions.has(ep.address)) continue; // a duplicate address: the first one wins
        b.positions.set(ep.address, list.length);
        list.push(new BackendEndpoint(ep, arrival));
      }
      b.lastChanges = { upserted: list.slice(), removed: [] };
      b.picker = balancing.policy.createPicker(list, balancing.options, this.opts.env, undefined);
      this.opts.log.info({ backend: b.name, endpoints: list.length, removed: 0 }, 'endpoints updated');
      b.markResolved();
      this.opts.onUpdate?.(b);
      return;
    }
    const changes = r.endpoints !== undefined ? diffAgainst(b, r.endpoints) : r.changes;
    const steps: EndpointListStep[] = [];
    const upserted: BackendEndpoint[] = [];
    const removed: string[] = [];
    for (const address of changes.removed) {
      const i = b.positions.get(address);
      if (i === undefined) continue;
      const last = list.length - 1;
      if (i !== last) {
        const moved = list[last]!;
        list[i] = moved;
        b.positions.set(moved.endpoint.address, i);
      }
      list.pop();
      b.positions.delete(address);
      steps.push({ kind: 'remove', index: i });
      removed.push(address);
    }
    for (const ep of changes.upserted) {
      const i = b.positions.get(ep.address);
      const old = i === undefined ? undefined : list[i]!;
      if (old !== undefined && sameEndpoint(old.endpoint, ep)) continue;
      const fresh = new BackendEndpoint(ep, arrival);
      if (old !== undefined && i !== undefined) {
        fresh.carryFrom(old);
        list[i] = fresh;
        steps.push({ kind: 'set', index: i, endpoint: fresh });
      } else {
        b.positions.set(ep.address, list.length);
        list.push(fresh);
        steps.push({ kind: 'push', endpoint: fresh });
      }
      upserted.push(fresh);
    }
    b.lastChanges = { upserted, removed };
    if (steps.length > 0 || b.picker === undefined) {
      const { policy, options } = balancing;
      b.picker =
        b.picker !== undefined && policy.updatePicker !== undefined
          ? policy.updatePicker(b.picker, steps, list, options, this.opts.env)
          : policy.createPicker(list, options, this.opts.env, b.picker);
    }
    for (const address of removed) this.opts.onEndpointRemoved?.(address);
    // Counts, not addresses: a 10,000-endpoint list would be built on every update even when info is off.
    this.opts.log.info({ backend: b.name, endpoints: list.length, upserted: upserted.length, removed: removed.length }, 'endpoints updated');
    b.markResolved();
    this.opts.onUpdate?.(b);
  }

  /** Picker rebuild after an endpoint's readiness changed (outlier detection). */
  refresh(b: Backend): void {
    b.picker = b.balancing.policy.createPicker(b.endpoints, b.balancing.options, this.opts.env, b.picker);
  }

  private sweep(idleMs: number): void {
    const now = this.opts.env.now();
    for (const b of this.backends.values()) {
      if (b.watch !== undefined && now - b.lastUsedMs > idleMs) {
        b.watch.close();
        b.watch = undefined;
        this.opts.log.info({ backend: b.name }, 'backend idle; stopped watching');
      }
    }
  }
}

/** A whole set as changes against `b`'s list: O(set + list). */
function diffAgainst(b: Backend, endpoints: readonly Endpoint[]): EndpointChanges {
  const seen = new Set<string>();
  const upserted: Endpoint[] = [];
  for (const ep of endpoints) {
    if (seen.has(ep.address)) continue; // a duplicate address: the first one wins
    seen.add(ep.address);
    const i = b.positions.get(ep.address);
    if (i === undefined || !sameEndpoint(b.endpoints[i]!.endpoint, ep)) upserted.push(ep);
  }
  const removed: string[] = [];
  for (const e of b.endpoints) if (!seen.has(e.endpoint.address)) removed.push(e.endpoint.address);
  return { upserted, removed };
}

/** Same address, weight and meta: the BackendEndpoint (and the picker) need not change. */
function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  if (a === b) return true;
  if (a.address !== b.address || a.weight !== b.weight) return false;
  let n = 0;
  for (const k in b.meta) {
    if (a.meta[k] !== b.meta[k]) return false;
    n += 1;
  }
  return Object.keys(a.meta).length === n;
}
