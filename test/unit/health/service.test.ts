// SPDX-License-Identifier: Apache-2.0
// The sidecar's health state: app health AND sidecar readiness, Watch sends changes only, drain ends every watch.

import { describe, expect, it } from 'vitest';
import type { AppHealth, AppHealthStatus } from '../../../src/health/app-health.js';
import { createHealthService } from '../../../src/health/service.js';

function fakeApp(initial: AppHealthStatus) {
  let status = initial;
  let demands = 0;
  const app: AppHealth = {
    status: () => status,
    lastError: undefined,
    reason: () => (status === 'SERVING' ? undefined : status === 'UNKNOWN' ? 'app health not checked yet' : 'app reports NOT_SERVING'),
    start: () => {},
    demand: async () => {
      demands++;
      if (status === 'UNKNOWN') status = 'SERVING';
    },
    checkNow: async () => status,
    stop: () => {},
  };
  return { app, set: (s: AppHealthStatus) => void (status = s), demands: () => demands };
}

describe('health service', () => {
  it('serves SERVING only when the app is healthy and the sidecar ready', async () => {
    const app = fakeApp('SERVING');
    let notReady: string | undefined = 'listeners not started';
    const h = createHealthService({ serviceName: 'user-service', ready: () => notReady, app: app.app });
    expect(await h.check()).toBe('NOT_SERVING');
    expect(h.reason()).toBe('listeners not started');
    notReady = undefined;
    expect(await h.check()).toBe('SERVING');
    app.set('NOT_SERVING');
    expect(await h.check()).toBe('NOT_SERVING');
    expect(h.reason()).toMatch(/^app not serving/);
  });

  it('answers for "" and the local service name only', () => {
    const h = createHealthService({ serviceName: 'user-service', ready: () => undefined, app: fakeApp('SERVING').app });
    expect([h.knows(''), h.knows('user-service'), h.knows('other')]).toEqual([true, true, false]);
  });

  it('waits for the app check on first demand instead of answering from an unknown state', async () => {
    const app = fakeApp('UNKNOWN');
    const h = createHealthService({ serviceName: 's', ready: () => undefined, app: app.app });
    expect(h.current()).toBe('UNKNOWN');
    expect(h.reason()).toBe('app health not checked yet');
    expect(await h.check()).toBe('SERVING');
    expect(app.demands()).toBe(1);
  });

  it('an app not probed yet is UNKNOWN only while nothing else is wrong; draining and readiness stay NOT_SERVING', () => {
    let notReady: string | undefined = 'listeners not started';
    const h = createHealthService({ serviceName: 's', ready: () => notReady, app: fakeApp('UNKNOWN').app });
    expect([h.current(), h.reason()]).toEqual(['NOT_SERVING', 'listeners not started']);
    notReady = undefined;
    expect(h.current()).toBe('UNKNOWN');
    h.shutdown();
    expect([h.current(), h.reason()]).toEqual(['NOT_SERVING', 'draining']);
  });

  it('sends watchers the current status, then changes only, and a final NOT_SERVING on drain', async () => {
    const app = fakeApp('SERVING');
    const h = createHealthService({ serviceName: 's', ready: () => undefined, app: app.app });
    const seen: Array<[string, boolean]> = [];
    const unknown: Array<[string, boolean]> = [];
    h.watch('', (s, final) => seen.push([s, final]));
    h.watch('nope', (s, final) => unknown.push([s, final]));
    h.refresh(); // no change: nothing sent
    app.set('NOT_SERVING');
    h.refresh();
    h.refresh();
    app.set('SERVING');
    h.refresh();
    h.shutdown();
    h.shutdown();
    expect(seen).toEqual([
      ['SERVING', false],
      ['NOT_SERVING', false],
      ['SERVING', false],
      ['NOT_SERVING', true],
    ]);
    expect(unknown).toEqual([
      ['SERVICE_UNKNOWN', false],
      ['SERVICE_UNKNOWN', true],
    ]);
    expect(await h.check()).toBe('NOT_SERVING');
    expect(h.reason()).toBe('draining');
    const late: Array<[string, boolean]> = [];
    h.watch('', (s, final) => late.push([s, final]));
    expect(late).toEqual([['NOT_SERVING', true]]);
  });

  it('stops notifying a watcher that unsubscribed', () => {
    const app = fakeApp('SERVING');
    const h = createHealthService({ serviceName: 's', ready: () => undefined, app: app.app });
    const seen: string[] = [];
    const off = h.watch('s', (s) => seen.push(s));
    off();
    app.set('NOT_SERVING');
    h.refresh();
    h.shutdown();
    expect(seen).toEqual(['SERVING']);
  });
});
