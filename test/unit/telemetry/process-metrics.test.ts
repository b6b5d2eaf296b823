// SPDX-License-Identifier: Apache-2.0
// The event-loop lag sampler's resolution reaches prom-client's native histogram: 20 ms by default (config
// `metrics.eventLoopResolutionMs`), or what the config says. prom-client calls perf_hooks.monitorEventLoopDelay
// through the CommonJS module object, which the spy wraps.

import perfHooks from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { addProcessMetrics } from '../../../src/telemetry/process-metrics.js';

afterEach(() => {
  vi.restoreAllMocks();
});

function resolutionOf(options: { eventLoopResolutionMs?: number }): number | undefined {
  const spy = vi.spyOn(perfHooks, 'monitorEventLoopDelay');
  addProcessMetrics(new Registry(), { version: 'test', ...options });
  const histogram = spy.mock.results[0]?.value as perfHooks.IntervalHistogram | undefined;
  histogram?.disable();
  return spy.mock.calls[0]?.[0]?.resolution;
}

describe('addProcessMetrics', () => {
  it('samples event-loop lag every 20 ms by default', () => {
    expect(resolutionOf({})).toBe(20);
  });

  it('samples at the configured resolution', () => {
    expect(resolutionOf({ eventLoopResolutionMs: 50 })).toBe(50);
  });
});
