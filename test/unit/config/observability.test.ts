// SPDX-License-Identifier: Apache-2.0
// The observability sections of the bootstrap schema (issue 5): omitted sections mean every default, partial
// sections get the rest of theirs, and invalid values are reported at their path.

import { describe, expect, it } from 'vitest';
import { bootstrapSchema, observabilityConfig } from '../../../src/config/schema.js';

const base = { service: { name: 's' }, outbound: {} };

describe('observability config', () => {
  it('applies every documented default when the sections are omitted', () => {
    expect(observabilityConfig(bootstrapSchema.parse(base))).toEqual({
      metrics: { enabled: true, maxMethods: 500, maxUpstreams: 100, methodTypes: {}, protoFiles: [], countUnknownMessages: false, process: true, eventLoopResolutionMs: 20 },
      tracing: {
        mode: 'off',
        sampleRatio: 0.01,
        endpoint: 'http://127.0.0.1:4318/v1/traces',
        propagation: ['tracecontext', 'b3', 'b3multi'],
        batchDelayMs: 5000,
        exportTimeoutMs: 10_000,
        maxQueueSize: 2048,
      },
      health: {
        appCheck: 'grpc',
        appHttp: { path: '/healthz' },
        appService: '',
        intervalMs: 5000,
        timeoutMs: 1000,
        upstreams: { enabled: false, service: '', intervalMs: 10_000, timeoutMs: 1000, unhealthyThreshold: 2, healthyThreshold: 1 },
      },
      allowRemoteMutations: false,
    });
  });

  it('fills the rest of a partial section', () => {
    const c = observabilityConfig(bootstrapSchema.parse({ ...base, tracing: { mode: 'on' }, health: { upstreams: { enabled: true } }, admin: { allowRemoteMutations: true } }));
    expect(c.tracing).toMatchObject({ mode: 'on', sampleRatio: 0.01 });
    expect(c.health.upstreams).toMatchObject({ enabled: true, unhealthyThreshold: 2 });
    expect(c.allowRemoteMutations).toBe(true);
  });

  it.each([
    [{ tracing: { sampleRatio: 1.5 } }, ['tracing', 'sampleRatio']],
    [{ tracing: { endpoint: 'grpc://x:4317' } }, ['tracing', 'endpoint']],
    [{ tracing: { propagation: ['jaeger'] } }, ['tracing', 'propagation', 0]],
    [{ tracing: { propagation: [] } }, ['tracing', 'propagation']],
    [{ metrics: { methodTypes: { 'no-slash': 'unary' } } }, ['metrics', 'methodTypes', 'no-slash']],
    [{ metrics: { methodTypes: { 'a.S/M': 'stream' } } }, ['metrics', 'methodTypes', 'a.S/M']],
    [{ metrics: { maxMethods: 0 } }, ['metrics', 'maxMethods']],
    [{ metrics: { eventLoopResolutionMs: 0 } }, ['metrics', 'eventLoopResolutionMs']],
    [{ metrics: { eventLoopResolutionMs: 2.5 } }, ['metrics', 'eventLoopResolutionMs']],
    [{ metrics: { eventLoopResolutionMs: 5000 } }, ['metrics', 'eventLoopResolutionMs']],
    [{ health: { appCheck: 'smtp' } }, ['health', 'appCheck']],
    [{ health: { appCheck: 'http', appHttp: { path: 'healthz' } } }, ['health', 'appHttp', 'path']],
    [{ health: { upstreams: { intervalMs: 10 } } }, ['health', 'upstreams', 'intervalMs']],
    [{ health: { extra: true } }, ['health']],
  ])('rejects %j at its path', (extra, path) => {
    const r = bootstrapSchema.safeParse({ ...base, ...extra });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path)).toContainEqual(path);
  });
});
