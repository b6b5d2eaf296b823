// SPDX-License-Identifier: Apache-2.0
// App health checks: the mapping of Check answers, on-demand start, the interval, and TCP mode.

import net from 'node:net';
import { pino } from 'pino';
import type { Logger } from '../../../src/telemetry/logger.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAppHealth, tcpCheck } from '../../../src/health/app-health.js';
import type { HealthCheckResult } from '../../../src/health/grpc-check.js';

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
  it('checks nothing until someone asks', () => {
    const m = monitor([]);
    expect(m.h.status()).toBe('UNKNOWN');
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
