// SPDX-License-Identifier: Apache-2.0
// The order of the outbound chain's resilience layers, observed through the real chain over a stub terminal:
// retry above balance (a retry picks another endpoint), circuit-breaker above balance (a rejected or waiting
// attempt has picked no endpoint), outlier below balance (an ejected endpoint is not picked), timeout above retry
// (the route timeout bounds every attempt together). And `meshlet explain` prints the chain the app composes
// (issue 11): both read OUTBOUND_LAYERS, and a table of configs checks them against each other.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { outboundExplainLayers } from '../../../src/app/explain.js';
import { createDiscovery } from '../../../src/app/discovery.js';
import { createOutbound } from '../../../src/app/outbound.js';
import { createResilience } from '../../../src/app/resilience.js';
import { createTelemetry } from '../../../src/app/telemetry.js';
import { loadBootstrapWithOrigins } from '../../../src/config/origin.js';
import { staticSource } from '../../../src/config/source.js';
import { explainCall } from '../../../src/policy/explain.js';
import { EMPTY_POLICY } from '../../../src/policy/schema.js';
import { OUTBOUND_TERMINAL } from '../../../src/proxy/outbound.js';
import { Backends } from '../../../src/balance/backends.js';
import { getPolicy } from '../../../src/balance/policies.js';
import { setup as setupRoundRobin } from '../../../src/balance/round-robin.js';
import { endpointFromAddress, type Resolver } from '../../../src/discovery/resolver.js';
import { ProxyError } from '../../../src/errors.js';
import { PolicyStore } from '../../../src/policy/store.js';
import { BackendStates } from '../../../src/resilience/backend-state.js';
import type { ProxyCall, ProxyReply } from '../../../src/proxy/call.js';
import type { SessionPool } from '../../../src/h2/session-pool.js';
import { compose, type Handler } from '../../../src/proxy/layer.js';
import { outboundLayers } from '../../../src/proxy/outbound.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { countingEvents, makeCall, policy, trailersOnly } from './layers/resilience-harness.js';

const ADDRESSES = ['10.0.0.1:80', '10.0.0.2:80'];
const log = createLogger({ level: 'silent' });
let backends: Backends;

beforeEach(() => {
  setupRoundRobin();
  const resolver: Resolver = {
    kind: 'test',
    watch: (_name, onResult) => {
      queueMicrotask(() => onResult({ ok: true, endpoints: ADDRESSES.map((a) => endpointFromAddress(a)) }));
      return { close: () => {} };
    },
  };
  backends = new Backends({
    resolver,
    isKnown: () => true,
    balancingFor: () => ({ policy: getPolicy('round_robin'), options: {}, hashHeader: undefined }),
    env: { random: () => 0, now: () => performance.now() },
    log,
  });
});
afterEach(() => backends.close());

function chain(yaml: string, terminal: Handler) {
  const events = countingEvents();
  const states = new BackendStates(new PolicyStore(policy(yaml)), { events, random: () => 0 });
  const layers = outboundLayers({ backends, pool: undefined as unknown as SessionPool, log, accessLog: false, states, resilienceEvents: events });
  return { handler: compose(layers, terminal), events, states };
}

const call = (): ProxyCall => makeCall('a');
const inflight = () => backends.get('a')?.endpoints.reduce((n, e) => n + e.load.inflight, 0);

describe('outbound chain order', () => {
  it('retry is above balance: an attempt that never reached the app is retried on the other endpoint', async () => {
    const seen: string[] = [];
    const { handler } = chain('routes: []\n', (c) => {
      seen.push(c.endpoint as string);
      return c.endpoint === seen[0] && seen.length === 1
        ? Promise.reject(new ProxyError('ERR_UPSTREAM_REFUSED_STREAM', 'refused', { neverReachedApp: true }))
        : Promise.resolve(trailersOnly(0));
    });
    const reply = await handler(call());
    expect(reply.end?.status).toBe(0);
    expect(seen).toHaveLength(2);
    expect(new Set(seen).size).toBe(2);
  });

  it('circuit-breaker is above balance: an attempt rejected for overflow never picked an endpoint', async () => {
    let hold!: (r: ProxyReply) => void;
    const { handler } = chain('defaults:\n  limits: { mode: enforce, maxConcurrentRequests: 1 }\n', () => new Promise((resolve) => (hold = resolve)));
    const first = handler(call());
    await new Promise((r) => setImmediate(r));
    expect(inflight()).toBe(1);
    const second = await handler(call());
    expect(second.headers['x-meshlet-error']).toBe('ERR_LIMIT_MAX_REQUESTS');
    expect(inflight()).toBe(1);
    hold(trailersOnly(0));
    await first;
  });

  it('outlier is below balance: an ejected endpoint gets no more picks', async () => {
    const seen: string[] = [];
    const { handler, events } = chain('defaults:\n  outlierDetection: { consecutiveFailures: 1 }\n', (c) => {
      seen.push(c.endpoint as string);
      return Promise.resolve(trailersOnly(c.endpoint === ADDRESSES[0] ? 14 : 0));
    });
    for (let i = 0; i < 6; i++) await handler(call());
    expect(events.count('eject:a')).toBe(1);
    expect(seen.filter((e) => e === ADDRESSES[0])).toHaveLength(1);
  });

  it('timeout is above retry: the route timeout ends the call across attempts, retries included', async () => {
    let attempts = 0;
    const { handler } = chain('defaults:\n  timeoutMs: 100\n  retry: { perTryTimeoutMs: 40, maxRetries: 10 }\n', (c) => {
      attempts++;
      return new Promise((_, reject) => c.onCancel(reject));
    });
    const reply = await handler(call());
    expect(reply.headers['grpc-status']).toBe('4');
    // Per-try timeouts at 40 ms and 80 ms, the route deadline at 100 ms: never the 11 attempts maxRetries allows.
    expect(attempts).toBeLessThanOrEqual(3);
  });
});

describe('explain prints the chain the app composes', () => {
  const switches = [false, true].flatMap((accessLog) =>
    [false, true].flatMap((metrics) => [false, true].map((tracing) => ({ accessLog, metrics, tracing }))),
  );
  for (const on of switches) {
    it(`access log ${on.accessLog ? 'on' : 'off'}, metrics ${on.metrics ? 'on' : 'off'}, tracing ${on.tracing ? 'on' : 'off'}`, async () => {
      const yaml = [
        'service: { name: caller }',
        'outbound: { listen: 127.0.0.1:0 }',
        `log: { accessLog: ${on.accessLog} }`,
        `metrics: { enabled: ${on.metrics} }`,
        `tracing: { mode: ${on.tracing ? 'on' : 'off'} }`,
        '',
      ].join('\n');
      const loaded = await loadBootstrapWithOrigins(staticSource('sidecar.yaml', yaml), {});
      if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
      const { config, originOf } = loaded;
      // The app's own wiring, as createApp does it (nothing is started).
      const telemetry = await createTelemetry(config, { log });
      const discovery = await createDiscovery(config, { log, metrics: telemetry.metrics });
      const resilience = createResilience(config, { log, events: telemetry.events, policy: EMPTY_POLICY });
      const outbound = createOutbound(config, config.outbound!, { log, telemetry, discovery, resilience, onEndpointsChanged: () => {} });
      try {
        const lines = explainCall({
          policy: EMPTY_POLICY,
          policyFile: undefined,
          bootstrap: { config, file: 'sidecar.yaml', originOf },
          layers: outboundExplainLayers({ config, originOf }),
          terminal: OUTBOUND_TERMINAL,
          backend: 'b',
          method: 'a.B/C',
        });
        const chain = lines.find((l) => l.startsWith('chain '))!.slice('chain'.length).trim();
        const printed = chain.split(' → ').map((l) => l.replace(/ \(.*\)$/, ''));
        expect(printed).toEqual([...outbound.layers, 'forward']);
        // The switches really change the composed chain, so the comparison above covers each of them.
        expect(outbound.layers.includes('access-log')).toBe(on.accessLog);
        expect(outbound.layers.filter((l) => l === 'metrics' || l === 'endpoint-metrics')).toHaveLength(on.metrics ? 2 : 0);
        expect(outbound.layers.filter((l) => l === 'tracing' || l === 'attempt-tracing')).toHaveLength(on.tracing ? 2 : 0);
      } finally {
        outbound.close();
        resilience.close();
        discovery.close();
        await telemetry.close();
      }
    });
  }
});
