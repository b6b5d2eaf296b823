// SPDX-License-Identifier: Apache-2.0
// The outbound backends: per backend name, the resolver watch (started lazily on first use, stopped when idle),
// the current endpoint set with per-endpoint load carried across updates, and the current Picker snapshot.
// Consulted by the balance layer on every call.

import type { Endpoint, Resolution, Resolver, Watch } from '../discovery/resolver.js';
import type { Logger } from '../telemetry/logger.js';
import { createEndpointLoad } from './endpoint-load.js';
import type { BalancingPolicy, EndpointLoad, Picker, PickerEndpoint, PickerEnv } from './picker.js';

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

/** A mutable PickerEndpoint: `ready` is flipped by outlier detection without rebuilding the picker. */
export class BackendEndpoint implements PickerEndpoint {
  // Two independent verdicts make `ready`: outlier detection / breakers (`ready = x` sets that part) and
  // active gRPC health checks (`healthy`, src/health/upstream-checker.ts), so neither can undo the other.
  private passiveReady = true;
  /** False while active health checks of this endpoint fail; always true when they are off. */
  healthy = true;
  /** What pickers read: `ready` as last set (outlier detection, breakers) and `healthy`. */
  get ready(): boolean {
    return this.passiveReady && this.healthy;
  }
  set ready(value: boolean) {
    this.passiveReady = value;
  }
  /** Carries both verdicts over to the replacement of this endpoint (same address, new weight). */
  carryFrom(old: BackendEndpoint): void {
    this.passiveReady = old.passiveReady;
    this.healthy = old.healthy;
  }
  constructor(
    readonly endpoint: Endpoint,
    readonly load: EndpointLoad,
  ) {}
}

/** One logical service the local app calls. */
export class Backend {
  readonly name: string;
  readonly balancing: BackendBalancing;
  picker: Picker | undefined;
  endpoints: readonly BackendEndpoint[] = [];
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
    b.watch = this.opts.resolver.watch(b.name, (r) => this.onResult(b, r));
  }

  private onResult(b: Backend, r: Resolution): void {
    b.lastResultMs = this.opts.env.now();
    if (!r.ok) {
      b.lastError = r.error;
      this.opts.log.warn({ backend: b.name, err: r.error.message, endpoints: b.endpoints.length }, 'discovery failed; keeping the last endpoints');
      b.markResolved();
      this.opts.onUpdate?.(b);
      return;
    }
    b.lastError = undefined;
    // Filled in a loop: `new Map(list.map(...))` would also allocate a pair array per endpoint (10,000 per update).
    const previous = new Map<string, BackendEndpoint>();
    for (const e of b.endpoints) previous.set(e.endpoint.address, e);
    const next: BackendEndpoint[] = [];
    for (const ep of r.endpoints) {
      const old = previous.get(ep.address);
      if (old !== undefined && old.endpoint.weight === ep.weight) {
        next.push(old);
      } else {
        const fresh = new BackendEndpoint(ep, old?.load ?? createEndpointLoad({ nowMs: this.opts.env.now() }));
        if (old !== undefined) fresh.carryFrom(old);
        next.push(fresh);
      }
      previous.delete(ep.address);
    }
    b.endpoints = next;
    b.picker = b.balancing.policy.createPicker(next, b.balancing.options, this.opts.env, b.picker);
    for (const removed of previous.keys()) this.opts.onEndpointRemoved?.(removed);
    // Counts, not addresses: a 10,000-endpoint list would be built on every update even when info is off.
    this.opts.log.info({ backend: b.name, endpoints: next.length, removed: previous.size }, 'endpoints updated');
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
