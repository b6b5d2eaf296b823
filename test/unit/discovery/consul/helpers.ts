// SPDX-License-Identifier: Apache-2.0
// Test helpers for the Consul discovery tests: a manual clock the watcher's timers run on (time moves only when
// a test says so) and an event-driven waitUntil over the clock and the Consul double. No sleeps, no polling.

import { EventEmitter } from 'node:events';
import type { WatcherClock } from '../../../../src/discovery/consul/watcher.js';
import type { Resolution } from '../../../../src/discovery/resolver.js';

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** A WatcherClock whose time only moves through advance()/runNext(). */
export class ManualClock implements WatcherClock {
  private t = 1_700_000_000_000;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();
  private readonly events = new EventEmitter();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    this.seq += 1;
    this.timers.set(this.seq, { at: this.t + Math.max(0, ms), seq: this.seq, fn });
    this.events.emit('change');
    return this.seq;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
    this.events.emit('change');
  }

  /** Timers scheduled and not yet run or cleared. */
  pending(): number {
    return this.timers.size;
  }

  /** Ms from now to the earliest timer, or undefined when none. */
  nextDelay(): number | undefined {
    const next = this.earliest();
    return next === undefined ? undefined : next.at - this.t;
  }

  /** Moves time to the earliest timer and runs it; returns how far time moved. Throws when none is pending. */
  runNext(): number {
    const next = this.earliest();
    if (next === undefined) throw new Error('ManualClock: no timer pending');
    const moved = next.at - this.t;
    this.t = next.at;
    this.timers.delete(next.seq);
    next.fn();
    return moved;
  }

  /** Moves time by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (let next = this.earliest(); next !== undefined && next.at <= end; next = this.earliest()) {
      this.t = next.at;
      this.timers.delete(next.seq);
      next.fn();
    }
    this.t = end;
  }

  onChange(listener: () => void): () => void {
    this.events.on('change', listener);
    return () => void this.events.off('change', listener);
  }

  private earliest(): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.timers.values()) if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    return best;
  }
}

/** Anything that announces state changes. */
export interface ChangeSource {
  onChange(listener: () => void): () => void;
}

/**
 * Resolves when `predicate` holds, re-checking whenever a source announces a change. Rejects after
 * `timeoutMs` (a guard, not a sleep: passing tests never reach it) naming `label`.
 */
export function waitUntil(
  predicate: () => boolean,
  sources: readonly ChangeSource[],
  label: string,
  timeoutMs = 5000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (predicate()) {
      resolve();
      return;
    }
    const offs: (() => void)[] = [];
    const cleanup = (): void => {
      clearTimeout(timer);
      for (const off of offs) off();
    };
    const check = (): void => {
      if (!predicate()) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${label}`));
    }, timeoutMs);
    for (const s of sources) offs.push(s.onChange(check));
  });
}

/** Collects Resolution results and announces each one (a ChangeSource for waitUntil). */
export class ResultLog implements ChangeSource {
  readonly results: Resolution[] = [];
  private readonly events = new EventEmitter();
  readonly push = (r: Resolution): void => {
    this.results.push(r);
    this.events.emit('change');
  };
  onChange(listener: () => void): () => void {
    this.events.on('change', listener);
    return () => void this.events.off('change', listener);
  }
  get last(): Resolution | undefined {
    return this.results[this.results.length - 1];
  }
  /** Addresses of the last ok result, or undefined when the last result is an error or there is none. */
  lastAddresses(): string[] | undefined {
    const last = this.last;
    return last?.ok ? last.endpoints.map((e) => e.address) : undefined;
  }
}
