// SPDX-License-Identifier: Apache-2.0
// Active upstream health checks: hysteresis thresholds, picker refresh on changes, and how the verdict combines
// with outlier detection's `ready` on BackendEndpoint (neither undoes the other).

import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Backend, BackendEndpoint } from '../../../src/balance/backends.js';
import { createEndpointLoad } from '../../../src/balance/endpoint-load.js';
import type { BalancingPolicy } from '../../../src/balance/picker.js';
import { endpointFromAddress } from '../../../src/discovery/resolver.js';
import type { HealthCheckResult } from '../../../src/health/grpc-check.js';
import { createUpstreamChecker } from '../../../src/health/upstream-checker.js';

const silent = pino({ level: 'silent' });
const policy: BalancingPolicy = { name: 'test', createPicker: () => ({ pick: () => undefined }) };

function backend(name: string, addresses: string[]): Backend {
  const b = new Backend(name, { policy, options: {}, hashHeader: undefined }, 0);
  b.endpoints = addresses.map((a) => new BackendEndpoint(endpointFromAddress(a), createEndpointLoad({ nowMs: 0 })));
  return b;
}

const serving: HealthCheckResult = { ok: true, status: 'SERVING' };
const notServing: HealthCheckResult = { ok: true, status: 'NOT_SERVING' };
const refused: HealthCheckResult = { ok: false, grpcStatus: undefined, error: 'connect refused' };

function setup(b: Backend, answers: Record<string, HealthCheckResult[]>, thresholds = { unhealthy: 2, healthy: 1 }) {
  const refreshed: string[] = [];
  const transitions: string[] = [];
  const checks: string[] = [];
  const checker = createUpstreamChecker({
    backends: { list: () => [b], refresh: (x) => void refreshed.push(x.name) },
    check: async (address) => answers[address]?.shift() ?? serving,
    intervalMs: 1000,
    timeoutMs: 100,
    unhealthyThreshold: thresholds.unhealthy,
    healthyThreshold: thresholds.healthy,
    log: silent,
    onCheck: (_u, r) => checks.push(r),
    onTransition: (u, to) => transitions.push(`${u}:${to}`),
  });
  return { checker, refreshed, transitions, checks };
}

describe('upstream health checker', () => {
  it('takes an endpoint out after unhealthyThreshold failures and back after healthyThreshold passes', async () => {
    const b = backend('users', ['10.0.0.1:1', '10.0.0.2:1']);
    const s = setup(b, { '10.0.0.1:1': [notServing, refused, notServing, serving, serving] }, { unhealthy: 2, healthy: 2 });
    const [one, two] = b.endpoints as [BackendEndpoint, BackendEndpoint];
    await s.checker.runRound();
    expect(one.ready).toBe(true); // one failure: not yet
    await s.checker.runRound();
    expect([one.healthy, one.ready, two.ready]).toEqual([false, false, true]);
    expect(s.refreshed).toEqual(['users']);
    await s.checker.runRound(); // still failing
    await s.checker.runRound(); // first pass: not yet back
    expect(one.ready).toBe(false);
    await s.checker.runRound();
    expect(one.ready).toBe(true);
    expect(s.transitions).toEqual(['users:unhealthy', 'users:healthy']);
    expect(s.refreshed).toEqual(['users', 'users']);
    expect(s.checker.state('10.0.0.1:1')).toMatchObject({ healthy: true, consecutiveSuccesses: 2, lastStatus: 'SERVING' });
    expect(s.checks.filter((c) => c === 'error')).toHaveLength(1);
  });

  it('checkBackend checks only what the last update added or replaced, not the whole backend (issue 13)', async () => {
    const b = backend('users', ['10.0.0.1:1', '10.0.0.2:1', '10.0.0.3:1']);
    const added = new BackendEndpoint(endpointFromAddress('10.0.0.4:1'), createEndpointLoad({ nowMs: 0 }));
    b.endpoints = [...b.endpoints, added];
    b.lastChanges = { upserted: [added], removed: ['10.0.0.9:1'] };
    const checked: string[] = [];
    const checker = createUpstreamChecker({
      backends: { list: () => [b], refresh: () => {} },
      check: async (address) => {
        checked.push(address);
        return notServing;
      },
      intervalMs: 1000,
      timeoutMs: 100,
      unhealthyThreshold: 1,
      healthyThreshold: 1,
      log: silent,
    });
    await checker.checkBackend(b);
    expect(checked).toEqual(['10.0.0.4:1']);
    expect(added.healthy).toBe(false);
    expect(b.endpointAt('10.0.0.4:1')).toBe(added);
  });

  it('keeps outlier detection and health verdicts independent on BackendEndpoint', () => {
    const [ep] = backend('x', ['10.0.0.1:1']).endpoints as [BackendEndpoint];
    ep.ready = false; // ejected by outlier detection
    ep.healthy = true; // health checks pass: must not restore it
    expect(ep.ready).toBe(false);
    ep.ready = true; // restored by outlier detection
    ep.healthy = false; // but failing health checks
    expect(ep.ready).toBe(false);
    ep.healthy = true;
    expect(ep.ready).toBe(true);
    const replacement = new BackendEndpoint(ep.endpoint, ep.load);
    ep.healthy = false;
    replacement.carryFrom(ep);
    expect([replacement.healthy, replacement.ready]).toEqual([false, false]);
  });

  it('applies the known verdict to a replacement endpoint object and forgets endpoints that left', async () => {
    const b = backend('users', ['10.0.0.1:1']);
    const s = setup(b, { '10.0.0.1:1': [refused] }, { unhealthy: 1, healthy: 5 });
    await s.checker.runRound();
    const old = b.endpoints[0] as BackendEndpoint;
    expect(old.healthy).toBe(false);
    b.endpoints = [new BackendEndpoint(old.endpoint, old.load)]; // e.g. a weight change without carryFrom
    await s.checker.runRound();
    expect((b.endpoints[0] as BackendEndpoint).healthy).toBe(false);
    b.endpoints = [];
    await s.checker.runRound();
    expect(s.checker.state('10.0.0.1:1')).toBeUndefined();
  });

  it('never has two checks of one endpoint in flight', async () => {
    const b = backend('users', ['10.0.0.1:1']);
    let inflight = 0;
    let max = 0;
    let release: (() => void) | undefined;
    const checker = createUpstreamChecker({
      backends: { list: () => [b], refresh: () => {} },
      check: () =>
        new Promise<HealthCheckResult>((resolve) => {
          inflight++;
          max = Math.max(max, inflight);
          release = () => {
            inflight--;
            resolve(serving);
          };
        }),
      intervalMs: 1000,
      timeoutMs: 100,
      unhealthyThreshold: 1,
      healthyThreshold: 1,
      log: silent,
    });
    const first = checker.runRound();
    const second = checker.runRound();
    await second; // nothing to wait for: the endpoint is busy
    release?.();
    await first;
    expect(max).toBe(1);
    checker.stop();
  });
});
