// SPDX-License-Identifier: Apache-2.0
// outlier (outbound, per attempt, per endpoint): feeds each attempt's outcome to the backend's outlier detector
// (resilience/outlier.ts) and applies its transitions to the picker: an ejected endpoint is marked not ready, a
// timer ends its penalty, the next call to it is the one probe (it is not ready again while the probe runs).
// Sits right below `balance`, so the pick and the start of a probe happen in the same synchronous step and no
// second call can pick an endpoint whose probe just started.

import type { Backends } from '../../balance/backends.js';
import { toProxyError } from '../../errors.js';
import type { BackendResilience, BackendStates } from '../../resilience/backend-state.js';
import type { Outcome } from '../../resilience/circuit-breaker.js';
import { NO_EVENTS, type ResilienceEvents } from '../../resilience/events.js';
import type { OutlierTransition } from '../../resilience/outlier.js';
import { outcomeOfEnd, outcomeOfError } from '../../resilience/outcome.js';
import type { Logger } from '../../telemetry/logger.js';
import type { ProxyCall, ProxyReply } from '../call.js';
import type { CallEnd } from '../../grpc/call.js';
import type { Handler, Layer } from '../layer.js';

export interface OutlierDeps {
  /** The per-backend outlier detectors, configured by the current policy. */
  readonly states: BackendStates;
  readonly backends: Backends;
  readonly log: Logger;
  readonly events?: ResilienceEvents;
  readonly now?: () => number;
}

/** The outlier layer plus `close()`, which clears pending penalty timers (drain, tests). */
export interface OutlierController {
  readonly layer: Layer;
  close(): void;
}

/** Per (backend, endpoint): the listeners registered on replies, bound once, so a call allocates none. */
class EndpointHandle {
  readonly onEnd: (end: CallEnd) => void;
  readonly onProbeEnd: (end: CallEnd) => void;
  constructor(
    readonly ctl: Controller,
    readonly rs: BackendResilience,
    readonly address: string,
  ) {
    this.onEnd = (end) => ctl.record(this, outcomeOfEnd(end));
    this.onProbeEnd = (end) => ctl.recordProbe(this, outcomeOfEnd(end));
  }
}

class Controller {
  private readonly handles = new WeakMap<BackendResilience, Map<string, EndpointHandle>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly events: ResilienceEvents;
  private readonly now: () => number;
  private readonly offSwap: () => void;

  constructor(private readonly deps: OutlierDeps) {
    this.events = deps.events ?? NO_EVENTS;
    this.now = deps.now ?? (() => performance.now());
    // Registered after the states' own listener (they exist before this controller), so the detectors are
    // already reconfigured when a mode change resets them.
    this.offSwap = deps.states.policy.onSwap((next, previous) => {
      for (const rs of deps.states.backends()) {
        const was = previous.backend(rs.name).policy.outlierDetection.mode;
        if (was !== next.backend(rs.name).policy.outlierDetection.mode) this.resetBackend(rs, was === 'enforce');
      }
    });
  }

  handle(rs: BackendResilience, address: string): EndpointHandle {
    let byAddress = this.handles.get(rs);
    if (byAddress === undefined) {
      byAddress = new Map();
      this.handles.set(rs, byAddress);
    }
    let h = byAddress.get(address);
    if (h === undefined) {
      h = new EndpointHandle(this, rs, address);
      byAddress.set(address, h);
    }
    return h;
  }

  record(h: EndpointHandle, outcome: Outcome): void {
    if (h.rs.policy.outlierDetection.mode === 'off') return;
    const count = outcome === 'failure' ? this.endpointCount(h.rs) : 0;
    this.apply(h, h.rs.outlier.record(h.address, outcome, this.now(), count));
  }

  recordProbe(h: EndpointHandle, outcome: Outcome): void {
    const t = h.rs.outlier.recordProbe(h.address, outcome, this.now());
    // A neutral probe (client cancelled) puts the endpoint back on probation: ready for the next call to probe.
    if (t === undefined && outcome === 'neutral' && h.rs.outlier.get(h.address).health === 'probation') this.setReady(h, true);
    this.apply(h, t);
  }

  beginProbe(h: EndpointHandle): boolean {
    if (!h.rs.outlier.beginProbe(h.address)) return false;
    // Enforce: no second call may pick it until the probe has answered.
    if (h.rs.policy.outlierDetection.mode === 'enforce') this.setReady(h, false);
    return true;
  }

  private apply(h: EndpointHandle, t: OutlierTransition | undefined): void {
    if (t === undefined) return;
    const { rs, address } = h;
    const enforce = rs.policy.outlierDetection.mode === 'enforce';
    const log = this.deps.log;
    switch (t.kind) {
      case 'eject':
        this.schedule(h, t.penaltyMs);
        if (enforce) {
          this.setReady(h, false);
          this.events.onEject?.(rs.name, address, t.penaltyMs);
          log.warn({ backend: rs.name, endpoint: address, penaltyMs: t.penaltyMs }, 'outlier ejected');
        } else {
          this.events.onShadow?.('outlier', rs.name, 'eject');
          log.info({ backend: rs.name, endpoint: address, penaltyMs: t.penaltyMs, shadow: true }, 'outlier would be ejected (shadow)');
        }
        return;
      case 'eject-skipped':
        this.events.onEjectSkipped?.(rs.name, address);
        log.warn({ backend: rs.name, endpoint: address }, 'outlier not ejected: the maximum share of endpoints is already ejected');
        return;
      case 'probation':
        if (enforce) this.setReady(h, true);
        this.events.onProbation?.(rs.name, address);
        return;
      case 'restore':
        if (enforce) {
          this.setReady(h, true);
          this.events.onRestore?.(rs.name, address);
          log.info({ backend: rs.name, endpoint: address }, 'outlier restored after a successful probe');
        }
        return;
    }
  }

  private schedule(h: EndpointHandle, delayMs: number): void {
    const key = `${h.rs.name} ${h.address}`;
    const old = this.timers.get(key);
    if (old !== undefined) clearTimeout(old);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      // Node timers run on the event loop's millisecond clock and may fire a fraction of a millisecond before
      // performance.now() reaches the deadline: then wait for the rest instead of leaving it ejected forever.
      const state = h.rs.outlier.get(h.address);
      const left = state.health === 'ejected' ? state.ejectedUntilMs - this.now() : 0;
      if (left > 0) this.schedule(h, Math.ceil(left));
      else this.apply(h, h.rs.outlier.expire(h.address, this.now()));
    }, delayMs);
    timer.unref();
    this.timers.set(key, timer);
  }

  private endpointCount(rs: BackendResilience): number {
    const backend = this.deps.backends.get(rs.name);
    if (backend === undefined) return 0;
    if (rs.outlier.ejectedCount > 0) rs.outlier.retain(new Set(backend.endpoints.map((e) => e.endpoint.address)));
    return backend.endpoints.length;
  }

  private setReady(h: EndpointHandle, ready: boolean): void {
    const backend = this.deps.backends.get(h.rs.name);
    if (backend === undefined) return;
    let changed = false;
    for (const e of backend.endpoints) {
      if (e.endpoint.address === h.address && e.ready !== ready) {
        e.ready = ready;
        changed = true;
      }
    }
    if (changed) this.deps.backends.refresh(backend);
  }

  /** The mode changed: forget the detector's state; endpoints an enforcing detector took out go back in. */
  private resetBackend(rs: BackendResilience, restore: boolean): void {
    for (const address of rs.outlier.reset()) {
      const key = `${rs.name} ${address}`;
      const timer = this.timers.get(key);
      if (timer !== undefined) clearTimeout(timer);
      this.timers.delete(key);
      if (restore) this.setReady(this.handle(rs, address), true);
    }
  }

  close(): void {
    this.offSwap();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}

export function createOutlierController(deps: OutlierDeps): OutlierController {
  const ctl = new Controller(deps);
  const { states } = deps;

  const normal = async (next: Handler, call: ProxyCall, h: EndpointHandle): Promise<ProxyReply> => {
    let reply: ProxyReply;
    try {
      reply = await next(call);
    } catch (err) {
      ctl.record(h, outcomeOfError(toProxyError(err)));
      throw err;
    }
    reply.onEnd(h.onEnd);
    return reply;
  };
  const probe = async (next: Handler, call: ProxyCall, h: EndpointHandle): Promise<ProxyReply> => {
    let reply: ProxyReply;
    try {
      reply = await next(call);
    } catch (err) {
      ctl.recordProbe(h, outcomeOfError(toProxyError(err)));
      throw err;
    }
    reply.onEnd(h.onProbeEnd);
    return reply;
  };

  const layer: Layer = (next) => (call: ProxyCall) => {
    const address = call.endpoint;
    if (address === undefined) return next(call);
    const rs = states.backend(call.backend ?? '');
    if (rs.policy.outlierDetection.mode === 'off') return next(call);
    const h = ctl.handle(rs, address);
    return ctl.beginProbe(h) ? probe(next, call, h) : normal(next, call, h);
  };
  return { layer, close: () => ctl.close() };
}
