// SPDX-License-Identifier: Apache-2.0
// grpc.health.v1.Health as grpc/grpc doc/health-checking.md specifies it: Check, Watch (current status at once,
// then only changes; SERVICE_UNKNOWN for unregistered services) and shutdown ending every watch.

import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';

import { serverStreamCall, unaryCall } from '../../../../examples/services/shared/grpc-client.js';
import {
  createHealthService,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthService,
} from '../../../../examples/services/shared/health.js';
import { methodOf } from '../../../../examples/services/shared/proto.js';
import { clientFor, collect, rejection, serve, type TestServer } from '../grpc-harness.js';

let server: TestServer | undefined;
let client: grpc.Client | undefined;
afterEach(async () => {
  client?.close();
  await server?.close();
  server = client = undefined;
});

async function start(health: HealthService) {
  server = await serve([[health.definition, health.implementation]]);
  client = clientFor(server.address);
  const check = methodOf<HealthCheckRequest, HealthCheckResponse>(health.definition, 'Check');
  const watch = methodOf<HealthCheckRequest, HealthCheckResponse>(health.definition, 'Watch');
  const c = client;
  return {
    check: (service: string) => unaryCall(c, check, { service }),
    watch: (service: string) => serverStreamCall(c, watch, { service }),
  };
}

describe('health service', () => {
  it('answers Check with the registered status and NOT_FOUND for an unknown service', async () => {
    const health = createHealthService({ '': 'SERVING', 'a.v1.A': 'NOT_SERVING' });
    const { check } = await start(health);
    expect(await check('')).toEqual({ status: 'SERVING' });
    expect(await check('a.v1.A')).toEqual({ status: 'NOT_SERVING' });
    const err = await rejection(check('b.v1.B'));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
  });

  it('sends the current status on Watch at once, then each change but no repeats', async () => {
    const health = createHealthService({ 'a.v1.A': 'SERVING' });
    const { watch } = await start(health);
    const stream = watch('a.v1.A');
    const updates = stream[Symbol.asyncIterator]();
    expect((await updates.next()).value).toEqual({ status: 'SERVING' });
    health.setStatus('a.v1.A', 'SERVING'); // no change: nothing sent
    health.setStatus('a.v1.A', 'NOT_SERVING');
    expect((await updates.next()).value).toEqual({ status: 'NOT_SERVING' });
    health.setStatus('a.v1.A', 'SERVING');
    expect((await updates.next()).value).toEqual({ status: 'SERVING' });
    stream.on('error', () => {});
    stream.cancel();
  });

  it('sends SERVICE_UNKNOWN for an unregistered service and keeps watching until it is registered', async () => {
    const health = createHealthService({});
    const { watch } = await start(health);
    const stream = watch('late.v1.Late');
    const updates = stream[Symbol.asyncIterator]();
    expect((await updates.next()).value).toEqual({ status: 'SERVICE_UNKNOWN' });
    health.setStatus('late.v1.Late', 'SERVING');
    expect((await updates.next()).value).toEqual({ status: 'SERVING' });
    stream.on('error', () => {});
    stream.cancel();
  });

  it('on shutdown tells every watcher NOT_SERVING and ends the streams with OK', async () => {
    const health = createHealthService({ '': 'SERVING', 'a.v1.A': 'SERVING' });
    const { watch, check } = await start(health);
    const whole = watch('');
    const one = watch('a.v1.A');
    const wholeAll = collect(whole);
    const oneAll = collect(one);
    // Both watches must be registered before shutdown: wait for their first message.
    await Promise.all([whole, one].map((s) => new Promise((resolve) => s.once('data', resolve))));
    health.shutdown();
    expect((await wholeAll).map((m) => m.status)).toEqual(['SERVING', 'NOT_SERVING']);
    expect((await oneAll).map((m) => m.status)).toEqual(['SERVING', 'NOT_SERVING']);
    expect(await check('a.v1.A')).toEqual({ status: 'NOT_SERVING' });
    health.setStatus('a.v1.A', 'SERVING'); // ignored after shutdown
    expect(health.statusOf('a.v1.A')).toBe('NOT_SERVING');
  });
});
