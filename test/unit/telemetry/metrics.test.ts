// SPDX-License-Identifier: Apache-2.0
// The metrics registry: per-call series with bounded labels, grpc_type from config, histogram buckets, the
// exposition as Prometheus parses it, one-line registration for later features, and the resilience hooks.

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ProxyCall } from '../../../src/proxy/call.js';
import { RequestBody } from '../../../src/proxy/request-body.js';
import { backendFromAuthority } from '../../../src/proxy/layers/route.js';
import { bucketIndex, CallMetricsTable, codeName, createMetrics, HANDLING_BUCKETS_SECONDS, MethodTypes, OTHER } from '../../../src/telemetry/metrics.js';
import { resilienceEvents } from '../../../src/app/telemetry.js';
import { grpcTypeOf, loadMethodTypes } from '../../../src/telemetry/method-types.js';
import { parsePrometheusText } from '../../helpers/prom-text.js';

function call(path: string, authority = 'user-service:6140', startMs = performance.now()): ProxyCall {
  return new ProxyCall('outbound', { ':path': path, ':authority': authority }, new RequestBody(new PassThrough()), { address: '127.0.0.1', port: 1, identity: undefined }, startMs);
}

const newMetrics = (o: { maxMethods?: number; maxUpstreams?: number; methodTypes?: MethodTypes } = {}) =>
  createMetrics({ serviceName: 'local', upstreamOf: backendFromAuthority, ...o });

describe('CallMetricsTable', () => {
  it('returns the same pre-bound series for the same upstream and method', () => {
    const t = new CallMetricsTable('outbound', {}, backendFromAuthority);
    const a = t.series(call('/user.v1.UserService/GetUser'));
    expect(t.series(call('/user.v1.UserService/GetUser'))).toBe(a);
    expect(t.series(call('/user.v1.UserService/GetUser', 'user-service:9999'))).toBe(a);
    expect(t.series(call('/user.v1.UserService/ListUsers'))).not.toBe(a);
    expect(a).toMatchObject({ upstream: 'user-service', service: 'user.v1.UserService', method: 'GetUser', type: 'unknown' });
  });

  it('collapses methods beyond maxMethods into one "other" series per upstream', () => {
    const t = new CallMetricsTable('inbound', { maxMethods: 2 }, () => 'x', 'local');
    t.series(call('/a.S/M1'));
    t.series(call('/a.S/M2'));
    const third = t.series(call('/a.S/M3'));
    expect(third).toMatchObject({ service: OTHER, method: OTHER, type: 'unknown' });
    expect(t.series(call('/random.Svc/Junk'))).toBe(third);
    expect(t.series(call('/a.S/M1')).method).toBe('M1'); // earlier ones keep their series
    expect([...t.all()]).toHaveLength(3);
  });

  it('collapses malformed paths into "other" without caching them', () => {
    const t = new CallMetricsTable('inbound', {}, () => 'x', 'local');
    expect(t.series(call('/no-method'))).toMatchObject({ service: OTHER, method: OTHER });
    expect(t.series(call('/a b/c'))).toMatchObject({ service: OTHER });
    expect(t.series(call('/a.S/"quote"'))).toMatchObject({ service: OTHER });
  });

  it('collapses upstreams beyond maxUpstreams into "other"', () => {
    const t = new CallMetricsTable('outbound', { maxUpstreams: 1 }, backendFromAuthority);
    expect(t.series(call('/a.S/M', 'one:1')).upstream).toBe('one');
    expect(t.series(call('/a.S/M', 'two:1')).upstream).toBe(OTHER);
    expect(t.series(call('/a.S/M', 'three:1')).upstream).toBe(OTHER);
    expect(t.series(call('/a.S/M', 'one:2')).upstream).toBe('one');
  });

  it('keeps the authority cache bounded even when every call has a new authority', () => {
    const t = new CallMetricsTable('outbound', { maxUpstreams: 2 }, backendFromAuthority);
    for (let i = 0; i < 100; i++) t.series(call('/a.S/M', `host-${i}:1`));
    expect([...t.all()].map((s) => s.upstream).sort()).toEqual(['host-0', 'host-1', OTHER]);
    expect((t as unknown as { byAuthority: Map<string, unknown> }).byAuthority.size).toBeLessThanOrEqual(8);
  });
});

describe('MethodTypes', () => {
  it('uses exact entries, then service wildcards, then built-ins, else unknown', () => {
    const types = new MethodTypes({ 'a.S/Up': 'client_stream', 'a.S/*': 'unary', '/b.T/Chat': 'bidi_stream' });
    expect(types.typeOf('a.S', 'Up')).toBe('client_stream');
    expect(types.typeOf('a.S', 'Other')).toBe('unary');
    expect(types.typeOf('b.T', 'Chat')).toBe('bidi_stream');
    expect(types.typeOf('grpc.health.v1.Health', 'Watch')).toBe('server_stream');
    expect(types.typeOf('c.U', 'X')).toBe('unknown');
  });

  it('reads the stream flags of the example protos', () => {
    const types = loadMethodTypes({}, ['examples/services/user-service/user.proto', 'examples/services/shared/health.proto']);
    expect(types.typeOf('grpc.health.v1.Health', 'Check')).toBe('unary');
    expect(grpcTypeOf(true, true)).toBe('bidi_stream');
    expect(grpcTypeOf(true, false)).toBe('client_stream');
    expect(grpcTypeOf(false, true)).toBe('server_stream');
  });

  it('fails loudly on a proto file it cannot read', () => {
    expect(() => loadMethodTypes({}, ['no/such/file.proto'])).toThrow(/metrics.protoFiles: cannot load no\/such\/file.proto/);
  });
});

describe('histogram buckets', () => {
  it('resolve 100 µs to 30 s', () => {
    expect(HANDLING_BUCKETS_SECONDS[0]).toBe(0.0001);
    expect(HANDLING_BUCKETS_SECONDS.at(-1)).toBe(30);
    expect(bucketIndex(0.00005)).toBe(0);
    expect(bucketIndex(0.0001)).toBe(0); // le is inclusive
    expect(bucketIndex(0.00011)).toBe(1);
    expect(bucketIndex(30)).toBe(HANDLING_BUCKETS_SECONDS.length - 1);
    expect(bucketIndex(31)).toBe(HANDLING_BUCKETS_SECONDS.length); // +Inf
  });
});

describe('createMetrics exposition', () => {
  it('exposes per-call families with go-grpc-prometheus labels that parse by the text-format rules', async () => {
    const m = newMetrics({ methodTypes: new MethodTypes({ 'a.S/Get': 'unary' }) });
    const t = m.calls.outbound;
    const c1 = call('/a.S/Get', 'svc-a:1', performance.now() - 2); // ~2 ms ago
    const s = t.series(c1);
    s.started++;
    c1.body.bytes = 12;
    c1.responseBytes = 20;
    s.end(c1, 0);
    const c2 = call('/a.S/Get', 'svc-a:1');
    s.started++;
    s.end(c2, 14);
    const text = (await m.scrape()).body;
    const p = parsePrometheusText(text);
    const labels = { direction: 'outbound', upstream: 'svc-a', grpc_type: 'unary', grpc_service: 'a.S', grpc_method: 'Get' };
    expect(p.value('meshlet_grpc_started_total', labels)).toBe(2);
    expect(p.value('meshlet_grpc_handled_total', { ...labels, grpc_code: 'OK' })).toBe(1);
    expect(p.value('meshlet_grpc_handled_total', { ...labels, grpc_code: 'Unavailable' })).toBe(1);
    expect(p.select('meshlet_grpc_handled_total')).toHaveLength(2); // codes never seen are not exposed
    expect(p.value('meshlet_grpc_handling_seconds_count', labels)).toBe(2);
    expect(p.value('meshlet_grpc_handling_seconds_bucket', { ...labels, le: '0.0001' })).toBeLessThanOrEqual(1);
    expect(p.value('meshlet_grpc_handling_seconds_bucket', { ...labels, le: '+Inf' })).toBe(2);
    expect(p.value('meshlet_grpc_request_bytes_total', labels)).toBe(12);
    expect(p.value('meshlet_grpc_response_bytes_total', labels)).toBe(20);
    // unary: one message each way when the bytes were there
    expect(p.value('meshlet_grpc_msg_received_total', labels)).toBe(1);
    expect(p.value('meshlet_grpc_msg_sent_total', labels)).toBe(1);
    expect(p.families.get('meshlet_grpc_handling_seconds')?.type).toBe('histogram');
    expect(p.families.get('meshlet_grpc_started_total')?.type).toBe('counter');
    expect(p.value('meshlet_config_reloads_total', { result: 'rejected' })).toBe(0);
  });

  it('maps out-of-range status codes to Unknown and names codes as go-grpc-prometheus does', async () => {
    expect([0, 1, 4, 14, 16].map(codeName)).toEqual(['OK', 'Canceled', 'DeadlineExceeded', 'Unavailable', 'Unauthenticated']);
    const m = newMetrics();
    const c = call('/a.S/M');
    m.calls.outbound.series(c).end(c, 99);
    const p = parsePrometheusText((await m.scrape()).body);
    expect(p.sum('meshlet_grpc_handled_total', { grpc_code: 'Unknown' })).toBe(1);
  });

  it('registers later features\' metrics in one line, idempotently', async () => {
    const m = newMetrics();
    const limited = m.counter({ name: 'meshlet_ratelimit_limited_total', help: 'Calls rate limited.', labelNames: ['upstream'] as const });
    expect(m.counter({ name: 'meshlet_ratelimit_limited_total', help: 'again' })).toBe(limited);
    limited.inc({ upstream: 'u' }, 3);
    m.gauge({ name: 'meshlet_tls_cert_expiry_seconds', help: 'Seconds until the certificate expires.' }).set(42);
    m.collected('meshlet_things', 'Things.', 'gauge', () => [{ labels: { kind: 'a' }, value: 7 }]);
    const p = parsePrometheusText((await m.scrape()).body);
    expect(p.value('meshlet_ratelimit_limited_total', { upstream: 'u' })).toBe(3);
    expect(p.value('meshlet_tls_cert_expiry_seconds')).toBe(42);
    expect(p.value('meshlet_things', { kind: 'a' })).toBe(7);
  });

  it('counts every resilience decision hook into its metric', async () => {
    const m = newMetrics();
    const ev = resilienceEvents(m);
    ev.onEject?.('b', '10.0.0.1:1', 1000);
    ev.onEject?.('b', '10.0.0.2:1', 1000);
    ev.onEjectSkipped?.('b', '10.0.0.3:1');
    ev.onProbation?.('b', '10.0.0.1:1');
    ev.onRestore?.('b', '10.0.0.1:1');
    ev.onOverflow?.('b', 'max_requests');
    ev.onBreakerState?.('b', 'open');
    ev.onBreakerReject?.('b');
    ev.onRetry?.('b', 'status');
    ev.onRetryGiveUp?.('b', 'body');
    ev.onRetryGiveUp?.('b', 'pushback');
    ev.onRetryPushback?.('b', 40);
    ev.onBudgetExhausted?.('b');
    ev.onShadow?.('limits', 'b', 'max_requests');
    ev.onReload?.('applied');
    ev.onReload?.('rejected');
    ev.onReload?.('rejected');
    const p = parsePrometheusText((await m.scrape()).body);
    expect(p.value('meshlet_outlier_ejections_total', { upstream: 'b' })).toBe(2);
    expect(p.value('meshlet_outlier_ejections_skipped_total', { upstream: 'b' })).toBe(1);
    expect(p.value('meshlet_outlier_probations_total', { upstream: 'b' })).toBe(1);
    expect(p.value('meshlet_outlier_restores_total', { upstream: 'b' })).toBe(1);
    expect(p.value('meshlet_circuit_breaker_overflows_total', { upstream: 'b', limit: 'max_requests' })).toBe(1);
    expect(p.value('meshlet_circuit_breaker_state', { upstream: 'b', state: 'open' })).toBe(1);
    expect(p.value('meshlet_circuit_breaker_state', { upstream: 'b', state: 'closed' })).toBe(0);
    expect(p.value('meshlet_circuit_breaker_transitions_total', { upstream: 'b', state: 'open' })).toBe(1);
    expect(p.value('meshlet_circuit_breaker_rejections_total', { upstream: 'b' })).toBe(1);
    expect(p.value('meshlet_retries_total', { upstream: 'b', reason: 'status' })).toBe(1);
    expect(p.value('meshlet_retries_given_up_total', { upstream: 'b', reason: 'body' })).toBe(1);
    expect(p.value('meshlet_retries_given_up_total', { upstream: 'b', reason: 'pushback' })).toBe(1);
    expect(p.value('meshlet_retry_pushbacks_total', { upstream: 'b' })).toBe(1);
    expect(p.value('meshlet_retry_budget_exhausted_total', { upstream: 'b' })).toBe(1);
    expect(p.value('meshlet_shadow_decisions_total', { feature: 'limits', upstream: 'b', detail: 'max_requests' })).toBe(1);
    expect(p.value('meshlet_config_reloads_total', { result: 'accepted' })).toBe(1);
    expect(p.value('meshlet_config_reloads_total', { result: 'rejected' })).toBe(2);
  });
});
