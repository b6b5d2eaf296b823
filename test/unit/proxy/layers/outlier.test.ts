// SPDX-License-Identifier: Apache-2.0
// The outlier layer over a stub terminal and real Backends: ejection takes the endpoint out of the picker, the
// penalty timer puts it on probation, exactly one call probes it, a reload that switches detection off restores it.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Backends } from '../../../../src/balance/backends.js';
import { setup as setupRoundRobin } from '../../../../src/balance/round-robin.js';
import { getPolicy } from '../../../../src/balance/policies.js';
import { endpointFromAddress, type Resolver } from '../../../../src/discovery/resolver.js';
import { ProxyError } from '../../../../src/errors.js';
import { PolicyStore } from '../../../../src/policy/store.js';
import { BackendStates } from '../../../../src/resilience/backend-state.js';
import type { ProxyReply } from '../../../../src/proxy/call.js';
import { Status } from '../../../../src/grpc/status.js';
import { createOutlierController, type OutlierController } from '../../../../src/proxy/layers/outlier.js';
import { createLogger } from '../../../../src/telemetry/logger.js';
import { countingEvents, makeCall, policy, trailersOnly } from './resilience-harness.js';

const ADDRESSES = ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'];
const log = createLogger({ level: 'silent' });
const controllers: OutlierController[] = [];
const cleanups: Array<() => void> = [];

beforeEach(() => {
  vi.useFakeTimers();
  setupRoundRobin();
});
afterEach(() => {
  for (const c of controllers.splice(0)) c.close();
  for (const c of cleanups.splice(0)) c();
  vi.useRealTimers();
});

async function setup(yaml: string, clock = { offsetMs: 0 }) {
  const resolver: Resolver = {
    kind: 'test',
    watch: (_name, onResult) => {
      queueMicrotask(() => onResult({ ok: true, endpoints: ADDRESSES.map((a) => endpointFromAddress(a)) }));
      return { close: () => {} };
    },
  };
  const backends = new Backends({
    resolver,
    isKnown: () => true,
    balancingFor: () => ({ policy: getPolicy('round_robin'), options: {}, hashHeader: undefined }),
    env: { random: () => 0, now: () => Date.now() },
    log,
  });
  cleanups.push(() => backends.close());
  const b = backends.get('a');
  await b?.whenResolved();
  const events = countingEvents();
  const states = new BackendStates(new PolicyStore(policy(yaml)), { events, random: () => 0 });
  const ctl = createOutlierController({ states, backends, log, events, now: () => Date.now() + clock.offsetMs });
  controllers.push(ctl);
  let status: number = Status.UNAVAILABLE;
  const h = ctl.layer(() => Promise.resolve(trailersOnly(status)));
  const callTo = (address: string): Promise<ProxyReply> => {
    const call = makeCall('a');
    call.endpoint = address;
    return h(call);
  };
  const ready = (address: string) => b?.endpoints.find((e) => e.endpoint.address === address)?.ready;
  return { states, events, callTo, ready, setStatus: (s: number) => (status = s), backends };
}

const DETECTION = 'defaults:\n  outlierDetection: { consecutiveFailures: 3, baseEjectionMs: 1000, jitterPercent: 0 }\n';

describe('outlier layer', () => {
  it('ejects after consecutive failures, probes once after the penalty, and restores on a good probe', async () => {
    const t = await setup(DETECTION);
    const [x] = ADDRESSES as [string];
    for (let i = 0; i < 3; i++) await t.callTo(x);
    expect(t.ready(x)).toBe(false);
    expect(t.events.count('eject:a')).toBe(1);

    await vi.advanceTimersByTimeAsync(999);
    expect(t.ready(x)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.ready(x)).toBe(true);
    expect(t.events.count('probation:a')).toBe(1);

    t.setStatus(0);
    await t.callTo(x);
    expect(t.events.count('restore:a')).toBe(1);
    expect(t.ready(x)).toBe(true);
  });

  it('takes the endpoint out of the picker while its probe is in flight; a failed probe ejects it for longer', async () => {
    const t = await setup(DETECTION);
    const [x] = ADDRESSES as [string];
    for (let i = 0; i < 3; i++) await t.callTo(x);
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.ready(x)).toBe(true);
    // A probe whose answer the test holds back.
    const states = t.states;
    let answer!: (r: ProxyReply) => void;
    const ctl = createOutlierController({ states, backends: t.backends, log, events: t.events, now: () => Date.now() });
    controllers.push(ctl);
    const call = makeCall('a');
    call.endpoint = x;
    const probe = ctl.layer(() => new Promise<ProxyReply>((resolve) => (answer = resolve)))(call);
    expect(t.ready(x)).toBe(false);
    answer(trailersOnly(Status.UNAVAILABLE));
    await probe;
    expect(t.ready(x)).toBe(false);
    expect(t.events.count('eject:a')).toBe(2);
    await vi.advanceTimersByTimeAsync(1999);
    expect(t.ready(x)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.ready(x)).toBe(true);
  });

  it('a penalty timer that fires before the clock reaches the deadline waits for the rest (regression: stuck ejection)', async () => {
    // performance.now() has sub-millisecond precision, timers fire on the loop's millisecond clock: ejected at
    // x.7 ms, the timer may run at x.2 ms past the penalty, before the deadline.
    const clock = { offsetMs: 0.7 };
    const t = await setup(DETECTION, clock);
    const [x] = ADDRESSES as [string];
    for (let i = 0; i < 3; i++) await t.callTo(x);
    clock.offsetMs = 0.2;
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.ready(x)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.ready(x)).toBe(true);
  });

  it('ejects two of three failing endpoints at maxEjectedPercent 50 (one past the maximum, issue 13), never the third', async () => {
    const t = await setup(DETECTION);
    for (const address of ADDRESSES) for (let i = 0; i < 3; i++) await t.callTo(address);
    expect(ADDRESSES.map(t.ready)).toEqual([false, false, true]);
    expect(t.events.count('ejectSkipped:a')).toBe(1);
  });

  it('counts a connection error as a failure and a client cancel as nothing', async () => {
    const t = await setup(DETECTION);
    const states = t.states;
    const ctl = createOutlierController({ states, backends: t.backends, log, events: t.events, now: () => Date.now() });
    controllers.push(ctl);
    const fail = (err: ProxyError) => {
      const call = makeCall('a');
      call.endpoint = ADDRESSES[1];
      return ctl.layer(() => Promise.reject(err))(call).catch(() => undefined);
    };
    for (let i = 0; i < 5; i++) await fail(new ProxyError('ERR_DOWNSTREAM_CANCELLED', 'gone'));
    expect(t.ready(ADDRESSES[1] as string)).toBe(true);
    for (let i = 0; i < 3; i++) await fail(new ProxyError('ERR_UPSTREAM_CONNECT', 'refused', { neverReachedApp: true }));
    expect(t.ready(ADDRESSES[1] as string)).toBe(false);
  });

  it('shadow: counts the ejection, leaves the endpoint in the picker', async () => {
    const t = await setup('defaults:\n  outlierDetection: { mode: shadow, consecutiveFailures: 3 }\n');
    for (let i = 0; i < 3; i++) await t.callTo(ADDRESSES[0] as string);
    expect(t.ready(ADDRESSES[0] as string)).toBe(true);
    expect(t.events.count('shadow:outlier:a:eject')).toBe(1);
    expect(t.events.count('eject:a')).toBe(0);
  });

  it('a reload that switches detection off puts ejected endpoints back; other reloads keep the ejection', async () => {
    const t = await setup(DETECTION);
    for (let i = 0; i < 3; i++) await t.callTo(ADDRESSES[0] as string);
    t.states.policy.swap(policy(`${DETECTION}  timeoutMs: 5000\n`));
    expect(t.ready(ADDRESSES[0] as string)).toBe(false);
    t.states.policy.swap(policy('defaults:\n  outlierDetection: { mode: off }\n'));
    expect(t.ready(ADDRESSES[0] as string)).toBe(true);
    expect(t.states.backend('a').outlier.ejectedCount).toBe(0);
  });
});
