// SPDX-License-Identifier: Apache-2.0
// App health checks: the mapping of Check answers, probing from start and every interval, single-flight probes
// (concurrent health requests share one), and TCP mode.

import net from 'node:net';
import { pino } from 'pino';
import type { Logger } from '../../../src/telemetry/logger.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAppHealth, NOT_CHECKED_YET, tcpCheck } from '../../../src/health/app-health.js';
import type { HealthCheckResult } from '../../../src/health/grpc-check.js';
import { createHealthService } from '../../../src/health/service.js';

const silent: Logger = pino({ level: 'silent' });

afterEach(() => {
  vi.useRealTimers();
});

function monitor(results: HealthCheckResult[], extra: { log?: Logger; intervalMs?: number } = {}) {
  let calls = 0;
  const checks: string[] = [];
  const h = createAppHealth({
    mode: 'grpc',
    address: '127.0.0.1:1',
    grpcCheck: async () => {
      calls++;
      return results.shift() ?? { ok: true, status: 'SERVING' };
    },
    intervalMs: extra.intervalMs ?? 1000,
    timeoutMs: 100,
    log: extra.log ?? silent,
    onCheck: (r) => checks.push(r),
  });
  return { h, calls: () => calls, checks };
}

describe('app health (grpc)', () => {
  it('probes nothing until started or asked, and is UNKNOWN with its reason until then', () => {
    const m = monitor([]);
    expect(m.h.status()).toBe('UNKNOWN');
    expect(m.h.reason()).toBe(NOT_CHECKED_YET);
    expect(m.calls()).toBe(0);
    m.h.stop();
  });

  it('maps SERVING, NOT_SERVING, SERVICE_UNKNOWN and failures', async () => {
    const m = monitor([
      { ok: true, status: 'SERVING' },
      { ok: true, status: 'NOT_SERVING' },
      { ok: true, status: 'SERVICE_UNKNOWN' },
      { ok: false, grpcStatus: undefined, error: 'connect refused' },
    ]);
    expect(await m.h.checkNow()).toBe('SERVING');
    expect(await m.h.checkNow()).toBe('NOT_SERVING');
    expect(await m.h.checkNow()).toBe('NOT_SERVING');
    expect(await m.h.checkNow()).toBe('NOT_SERVING');
    expect(m.h.lastError).toBe('connect refused');
    expect(m.checks).toEqual(['serving', 'not_serving', 'not_serving', 'error']);
    m.h.stop();
  });

  it('treats an app without a health service (UNIMPLEMENTED) as serving, warning once', async () => {
    const lines: Array<{ msg: string }> = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as { msg: string }) });
    const unimplemented: HealthCheckResult = { ok: false, grpcStatus: 12, error: 'unknown service grpc.health.v1.Health' };
    const m = monitor([unimplemented, unimplemented], { log });
    expect(await m.h.checkNow()).toBe('SERVING');
    expect(await m.h.checkNow()).toBe('SERVING');
    expect(lines.filter((l) => l.msg.includes('UNIMPLEMENTED'))).toHaveLength(1);
    m.h.stop();
  });

  it('starts periodic checks on first demand and re-checks every interval', async () => {
    vi.useFakeTimers();
    const m = monitor([], { intervalMs: 1000 });
    await m.h.demand();
    expect(m.calls()).toBe(1);
    await m.h.demand(); // fresh: no new check
    expect(m.calls()).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(m.calls()).toBe(2);
    await vi.advanceTimersByTimeAsync(3000);
    expect(m.calls()).toBe(5);
    m.h.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(m.calls()).toBe(5);
  });

  it('start() probes at once and then intervalMs after each probe ends, with nobody asking', async () => {
    vi.useFakeTimers();
    const m = monitor([{ ok: false, grpcStatus: 14, error: 'connect refused' }], { intervalMs: 1000 });
    m.h.start();
    m.h.start(); // idempotent
    expect(m.calls()).toBe(1);
    expect(m.h.status()).toBe('UNKNOWN');
    await vi.advanceTimersByTimeAsync(0);
    expect([m.h.status(), m.h.reason()]).toEqual(['NOT_SERVING', 'connect refused']);
    await vi.advanceTimersByTimeAsync(999);
    expect(m.calls()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(m.calls()).toBe(2);
    expect([m.h.status(), m.h.reason()]).toEqual(['SERVING', undefined]);
    expect(m.checks).toEqual(['error', 'serving']);
    m.h.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(m.calls()).toBe(2);
  });

  it('reports changes', async () => {
    const changes: string[] = [];
    const h = createAppHealth({
      mode: 'grpc',
      address: 'a:1',
      grpcCheck: async () => ({ ok: true, status: changes.length === 0 ? 'SERVING' : 'NOT_SERVING' }),
      intervalMs: 1000,
      timeoutMs: 100,
      log: silent,
      onChange: (s) => changes.push(s),
    });
    await h.checkNow();
    await h.checkNow();
    await h.checkNow();
    expect(changes).toEqual(['SERVING', 'NOT_SERVING']);
    h.stop();
  });

  it('is always serving in mode none and never checks', async () => {
    const grpcCheck = vi.fn();
    const h = createAppHealth({ mode: 'none', address: 'a:1', grpcCheck, intervalMs: 1000, timeoutMs: 100, log: silent });
    await h.demand();
    expect(h.status()).toBe('SERVING');
    expect(grpcCheck).not.toHaveBeenCalled();
  });
});

describe('app health (tcp)', () => {
  it('passes when the app accepts a connection and fails when it refuses', async () => {
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      expect(await tcpCheck(`127.0.0.1:${port}`, 1000)).toBeUndefined();
      const h = createAppHealth({ mode: 'tcp', address: `127.0.0.1:${port}`, grpcCheck: vi.fn(), intervalMs: 1000, timeoutMs: 1000, log: silent });
      expect(await h.checkNow()).toBe('SERVING');
      h.stop();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await tcpCheck(`127.0.0.1:${port}`, 1000)).toMatch(/ECONNREFUSED/);
  });
});

/** A probe the test answers: each call waits until `answer()` resolves it. */
function controllableProbe() {
  const pending: Array<(r: HealthCheckResult) => void> = [];
  return {
    grpcCheck: () => new Promise<HealthCheckResult>((resolve) => pending.push(resolve)),
    started: () => pending.length,
    answer(r: HealthCheckResult) {
      const next = pending.shift();
      if (next === undefined) throw new Error('no probe in flight');
      next(r);
    },
  };
}

describe('app health: single-flight probes (issue 13)', () => {
  it('concurrent Checks for "" and the service name on a fresh sidecar share one probe and get one answer', async () => {
    const probe = controllableProbe();
    const app = createAppHealth({ mode: 'grpc', address: 'a:1', grpcCheck: probe.grpcCheck, intervalMs: 1000, timeoutMs: 100, log: silent });
    const health = createHealthService({ serviceName: 'user-service', ready: () => undefined, app });
    // Both arrive before the probe answers: before the fix the second one did not wait and said NOT_SERVING.
    const forServer = health.check();
    const forService = health.check();
    const third = app.checkNow();
    expect(probe.started()).toBe(1);
    probe.answer({ ok: true, status: 'SERVING' });
    expect(await Promise.all([forServer, forService, third])).toEqual(['SERVING', 'SERVING', 'SERVING']);
    expect(probe.started()).toBe(0);
    app.stop();
  });

  it('a Check while the scheduled probe is running and the last result is stale waits for that probe', async () => {
    let t = 0;
    const probe = controllableProbe();
    const app = createAppHealth({ mode: 'grpc', address: 'a:1', grpcCheck: probe.grpcCheck, intervalMs: 1000, timeoutMs: 100, log: silent, now: () => t });
    const first = app.checkNow();
    probe.answer({ ok: true, status: 'SERVING' });
    await first;
    t = 1101; // older than intervalMs + timeoutMs
    const running = app.checkNow(); // as the schedule would
    const asked = app.demand();
    expect(probe.started()).toBe(1);
    let settled = false;
    void asked.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    probe.answer({ ok: true, status: 'NOT_SERVING' });
    await Promise.all([running, asked]);
    expect(app.status()).toBe('NOT_SERVING');
    // Fresh now (the mark is set when the probe ended): a Check answers at once, without a probe.
    await app.demand();
    expect(probe.started()).toBe(0);
    app.stop();
  });
});
