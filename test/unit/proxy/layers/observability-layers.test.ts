// SPDX-License-Identifier: Apache-2.0
// The issue-5 layers around stub handlers: metrics counts a call once whatever happens below (reply, upstream
// error, meshlet rejection) and passes rejections on; endpoint-metrics counts attempts; the health layer answers
// only grpc.health.v1 and passes everything else; tracing skips health probes.

import { PassThrough } from 'node:stream';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../../../src/errors.js';
import type { HealthService } from '../../../../src/health/service.js';
import { ProxyCall, ProxyReply } from '../../../../src/proxy/call.js';
import { compose, type Handler } from '../../../../src/proxy/layer.js';
import { endpointMetricsLayer } from '../../../../src/proxy/layers/endpoint-metrics.js';
import { healthLayer, isHealthPath } from '../../../../src/proxy/layers/health.js';
import { metricsLayer } from '../../../../src/proxy/layers/metrics.js';
import { tracingLayer } from '../../../../src/proxy/layers/tracing.js';
import { RequestBody } from '../../../../src/proxy/request-body.js';
import { AttemptMetricsTable, CallMetricsTable } from '../../../../src/telemetry/metrics.js';
import { traceKey } from '../../../../src/telemetry/propagation.js';
import { createTracing } from '../../../../src/telemetry/tracing.js';

function call(path = '/a.S/M'): ProxyCall {
  return new ProxyCall('inbound', { ':path': path, ':authority': 'x' }, new RequestBody(new PassThrough()), { address: '127.0.0.1', port: 1, identity: undefined }, performance.now());
}

function ended(status: number): ProxyReply {
  const r = new ProxyReply({ ':status': 200, 'grpc-status': String(status) }, null);
  r.finish({ status, message: undefined, error: undefined });
  return r;
}

describe('metrics layer', () => {
  it('counts started and handled once per call, for replies and for rejections, and rethrows', async () => {
    const table = new CallMetricsTable('inbound', {}, () => 'x', 'local');
    const results: Array<ProxyReply | ProxyError> = [ended(0), ended(14), new ProxyError('ERR_NO_ENDPOINTS', 'none')];
    const terminal: Handler = () => {
      const next = results.shift() as ProxyReply | ProxyError;
      return next instanceof ProxyError ? Promise.reject(next) : Promise.resolve(next);
    };
    const h = compose([metricsLayer({ table })], terminal);
    await h(call());
    await h(call());
    await expect(h(call())).rejects.toMatchObject({ code: 'ERR_NO_ENDPOINTS' });
    const s = table.series(call());
    expect(s.started).toBe(3);
    expect([...s.handled]).toEqual(Array.from({ length: 17 }, (_, i) => (i === 0 ? 1 : i === 14 ? 2 : 0)));
    expect(s.count).toBe(3);
  });

  it('counts a streamed reply when it ends, not when its headers arrive', async () => {
    const table = new CallMetricsTable('inbound', {}, () => 'x', 'local');
    const reply = new ProxyReply({ ':status': 200 }, new PassThrough());
    const h = compose([metricsLayer({ table })], () => Promise.resolve(reply));
    const c = call();
    await h(c);
    const s = table.series(c);
    expect(s.count).toBe(0);
    reply.finish({ status: 0, message: undefined, error: undefined });
    expect(s.handled[0]).toBe(1);
  });
});

describe('endpoint-metrics layer', () => {
  it('counts every attempt by its result, per upstream', async () => {
    const table = new AttemptMetricsTable();
    const h = compose([endpointMetricsLayer({ table })], (c) => (c.attempts++ === 0 ? Promise.reject(new ProxyError('ERR_UPSTREAM_CONNECT', 'refused')) : Promise.resolve(ended(0))));
    const c = call();
    c.backend = 'users';
    await expect(h(c)).rejects.toBeInstanceOf(ProxyError);
    await h(c);
    const s = table.series('users');
    expect([s.byCode[14], s.byCode[0]]).toEqual([1, 1]);
  });
});

describe('health layer', () => {
  const health: HealthService = {
    knows: () => true,
    check: async () => 'SERVING',
    current: () => 'SERVING',
    reason: () => undefined,
    watch: () => () => {},
    refresh: () => {},
    shutdown: () => {},
  };

  it('passes every other path to the next handler', async () => {
    let passed = 0;
    const h = compose([healthLayer({ health })], () => {
      passed++;
      return Promise.resolve(ended(0));
    });
    await h(call('/grpc.health.v2.Health/Check'));
    await h(call('/a.S/M'));
    expect(passed).toBe(2);
    expect(isHealthPath('/grpc.health.v1.Health/Check')).toBe(true);
    expect(isHealthPath('/grpc.health.v1.HealthX/Check')).toBe(false);
  });

  it('answers an unknown Health method with UNIMPLEMENTED itself', async () => {
    const h = compose([healthLayer({ health })], () => Promise.reject(new Error('must not be called')));
    const reply = await h(call('/grpc.health.v1.Health/List'));
    expect(reply.trailersOnly).toBe(true);
    expect(reply.end?.status).toBe(12);
  });
});

describe('tracing layer', () => {
  it('does not trace health probes', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = createTracing({ serviceName: 's', sampleRatio: 1, propagation: ['tracecontext'], endpoint: 'http://unused', exporter, log: pino({ level: 'silent' }) });
    const h = compose([tracingLayer({ tracing })], () => Promise.resolve(ended(0)));
    const probe = call('/grpc.health.v1.Health/Check');
    await h(probe);
    const data = call('/a.S/M');
    await h(data);
    await tracing.forceFlush();
    expect(probe.get(traceKey)).toBeUndefined();
    expect(probe.headers.traceparent).toBeUndefined();
    expect(data.get(traceKey)?.sampled).toBe(true);
    expect(exporter.getFinishedSpans()).toHaveLength(1);
    await tracing.shutdown();
  });
});
