// SPDX-License-Identifier: Apache-2.0
// The demo's external caller: GetOrder, ListOrders and GetOrderPayment per round, failures as outcomes (with the
// sidecar's x-meshlet-error code when present), and the printed line.

import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';

import { createDemoCaller, formatOutcome, type CallOutcome, type DemoCaller } from '../../../../examples/demo/caller.js';
import { startOrderService } from '../../../../examples/services/order-service/server.js';
import { orderServiceDefinition } from '../../../../examples/services/order-service/types.js';
import type { RunningServer } from '../../../../examples/services/shared/server.js';
import { startUserService } from '../../../../examples/services/user-service/server.js';
import { serve, type TestServer } from '../grpc-harness.js';

const servers: Array<{ close(): Promise<void> }> = [];
let caller: DemoCaller | undefined;
afterEach(async () => {
  caller?.close();
  caller = undefined;
  for (const s of servers.splice(0).reverse()) await s.close();
});

async function realServices(): Promise<RunningServer> {
  const users = await startUserService();
  servers.push({ close: () => users.close(0) });
  const orders = await startOrderService({ userServiceAddress: users.address });
  servers.push({ close: () => orders.close(0) });
  return orders;
}

const summary = (outcomes: CallOutcome[]) => outcomes.map((o) => [o.kind, o.label, grpc.status[o.code], o.detail]);

describe('demo caller', () => {
  it('makes a unary GetOrder, a streaming ListOrders and a GetOrderPayment per round', async () => {
    // No sidecars here, so nothing denies GetOrderPayment: it succeeds, against the demo's expectation.
    caller = createDemoCaller({ address: (await realServices()).address });
    expect(summary(await caller.round(0))).toEqual([
      ['unary', 'GetOrder o-1001', 'OK', 'Ada Lovelace · 1 item · $42.00'],
      ['stream', 'ListOrders all', 'OK', '8 orders'],
      ['unary', 'GetOrderPayment o-1001', 'OK', '$42.00 on visa ····4242'],
    ]);
    expect(summary(await caller.round(1))).toEqual([
      ['unary', 'GetOrder o-1002', 'OK', 'Alan Turing · 2 items · $74.97'],
      ['stream', 'ListOrders user u-2', 'OK', '2 orders'],
      ['unary', 'GetOrderPayment o-1002', 'OK', '$74.97 on mastercard ····5353'],
    ]);
  });

  it('expects PERMISSION_DENIED for every GetOrderPayment, cycling through existing orders only', async () => {
    caller = createDemoCaller({ address: (await realServices()).address });
    const payment = (await caller.round(8))[2]!;
    expect(payment).toMatchObject({ label: 'GetOrderPayment o-1001', expected: grpc.status.PERMISSION_DENIED });
  });

  it('asks for a missing order every ninth round and expects NOT_FOUND for it', async () => {
    caller = createDemoCaller({ address: (await realServices()).address });
    const [unary] = await caller.round(8);
    expect(unary).toMatchObject({ label: 'GetOrder o-404', code: grpc.status.NOT_FOUND, expected: grpc.status.NOT_FOUND });
  });

  it('reports UNAVAILABLE as an outcome when nothing listens', async () => {
    const gone = await realServices();
    const address = gone.address;
    await gone.close(0);
    caller = createDemoCaller({ address, callTimeoutMs: 1000 });
    const outcomes = await caller.round(0);
    expect(outcomes.map((o) => o.code)).toEqual([grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE]);
    expect(outcomes.map((o) => o.expected)).toEqual([grpc.status.OK, grpc.status.OK, grpc.status.PERMISSION_DENIED]);
  });

  it("keeps the sidecar's x-meshlet-error code from the trailers", async () => {
    const meshFailure = (): grpc.StatusObject => {
      const metadata = new grpc.Metadata();
      metadata.set('x-meshlet-error', 'ERR_BALANCE_NO_ENDPOINTS');
      return { code: grpc.status.UNAVAILABLE, details: 'no endpoints for user-service', metadata };
    };
    const stub: TestServer = await serve([
      [
        orderServiceDefinition(),
        {
          GetOrder: ((_call, callback) => callback(meshFailure())) as grpc.handleUnaryCall<unknown, unknown>,
          ListOrders: ((call) => call.emit('error', meshFailure())) as grpc.handleServerStreamingCall<unknown, unknown>,
          GetOrderPayment: ((_call, callback) => {
            const metadata = new grpc.Metadata();
            metadata.set('x-meshlet-error', 'ERR_AUTHZ_DENIED');
            callback({ code: grpc.status.PERMISSION_DENIED, details: 'meshlet authz: permission denied', metadata });
          }) as grpc.handleUnaryCall<unknown, unknown>,
        },
      ],
    ]);
    servers.push(stub);
    caller = createDemoCaller({ address: stub.address });
    const outcomes = await caller.round(0);
    expect(outcomes.map((o) => o.meshletError)).toEqual(['ERR_BALANCE_NO_ENDPOINTS', 'ERR_BALANCE_NO_ENDPOINTS', 'ERR_AUTHZ_DENIED']);
    expect(outcomes[2]).toMatchObject({ code: grpc.status.PERMISSION_DENIED, expected: grpc.status.PERMISSION_DENIED });
    expect(formatOutcome(outcomes[2]!, new Date())).toMatch(
      /PERMISSION_DENIED .* meshlet authz: permission denied \(expected\) \[meshlet ERR_AUTHZ_DENIED\]$/,
    );
  });
});

describe('formatOutcome', () => {
  const at = new Date(2024, 0, 2, 13, 4, 5, 67);
  const base: CallOutcome = { kind: 'unary', label: 'GetOrder o-1001', code: 0, expected: 0, latencyMs: 3.14159, detail: 'Ada' };

  it('prints local time, kind, call, status, latency and detail on one line', () => {
    expect(formatOutcome(base, at)).toBe(`13:04:05.067  unary   ${'GetOrder o-1001'.padEnd(22)}  ${'OK'.padEnd(17)}      3.1 ms  Ada`);
  });

  it('marks expected and unexpected failures, and names the sidecar error', () => {
    expect(formatOutcome({ ...base, code: grpc.status.NOT_FOUND, expected: grpc.status.NOT_FOUND }, at)).toMatch(/NOT_FOUND .* \(expected\)$/);
    expect(formatOutcome({ ...base, code: grpc.status.UNAVAILABLE, meshletError: 'ERR_X' }, at)).toMatch(
      /UNAVAILABLE .* \(UNEXPECTED\) \[meshlet ERR_X\]$/,
    );
  });
});
