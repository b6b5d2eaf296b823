// SPDX-License-Identifier: Apache-2.0
// The demo's external caller: a plain gRPC client with no sidecar of its own, calling order-service through
// order-service's sidecar INBOUND listener. One round = one unary GetOrder, one streaming ListOrders and one
// GetOrderPayment, which user-service's sidecar refuses order-service (the demo's authz rule): PERMISSION_DENIED.

import * as grpc from '@grpc/grpc-js';

import { orderMethods, type Order } from '../services/order-service/types.js';
import { isServiceError, serverStreamCall, unaryCall } from '../services/shared/grpc-client.js';

/** The result of one call, for printing. */
export interface CallOutcome {
  kind: 'unary' | 'stream';
  /** e.g. `GetOrder o-1001`, `ListOrders user u-3`, `GetOrderPayment o-1002`. */
  label: string;
  code: grpc.status;
  /**
   * The status this call is meant to get: the demo asks for a missing order on purpose (NOT_FOUND), and for payment
   * cards, which the user-service sidecar's policy denies order-service (PERMISSION_DENIED).
   */
  expected: grpc.status;
  latencyMs: number;
  /** A summary of the reply, or the status message. */
  detail: string;
  /** The sidecar's `x-meshlet-error` code when the sidecar itself failed the call. */
  meshletError?: string;
}

/** Order ids GetOrder cycles through; the last one does not exist and shows a NOT_FOUND passing through the mesh. */
export const DEMO_ORDER_IDS = ['o-1001', 'o-1002', 'o-1003', 'o-1004', 'o-1005', 'o-1006', 'o-1007', 'o-1008', 'o-404'];

/** Orders GetOrderPayment cycles through (all exist: the call fails at user-service's sidecar, not at the order). */
export const DEMO_PAYMENT_ORDER_IDS = DEMO_ORDER_IDS.filter((id) => id !== 'o-404');

/** Options of createDemoCaller. */
export interface DemoCallerOptions {
  /** order-service's sidecar inbound listener, e.g. `127.0.0.1:7243`. */
  address: string;
  /** Deadline of each call. Default 2000 ms. */
  callTimeoutMs?: number;
  /** Clock for latencies, ms. Default performance.now. */
  now?: () => number;
}

/** A caller; close() releases its channel. */
export interface DemoCaller {
  /** Makes round `n`'s three calls, one after the other. Never rejects: failures are outcomes. */
  round(n: number): Promise<CallOutcome[]>;
  close(): void;
}

const dollars = (cents: number): string => `$${(cents / 100).toFixed(2)}`;
const describeOrder = (o: Order): string =>
  `${o.customer?.name ?? '(no customer)'} · ${o.items.length} item${o.items.length === 1 ? '' : 's'} · ${dollars(o.totalCents)}`;

/** Creates the caller. Its channel's authority is `order-service`, as a meshed caller's would be. */
export function createDemoCaller({ address, callTimeoutMs = 2000, now = () => performance.now() }: DemoCallerOptions): DemoCaller {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'order-service' });
  const methods = orderMethods();

  async function measure(
    kind: CallOutcome['kind'],
    label: string,
    expected: grpc.status,
    call: () => Promise<string>,
  ): Promise<CallOutcome> {
    const started = now();
    try {
      const detail = await call();
      return { kind, label, code: grpc.status.OK, expected, latencyMs: now() - started, detail };
    } catch (err) {
      const latencyMs = now() - started;
      if (!isServiceError(err)) return { kind, label, code: grpc.status.UNKNOWN, expected, latencyMs, detail: String(err) };
      const outcome: CallOutcome = { kind, label, code: err.code, expected, latencyMs, detail: err.details };
      const meshletError = err.metadata?.get('x-meshlet-error')[0];
      if (meshletError !== undefined) outcome.meshletError = String(meshletError);
      return outcome;
    }
  }

  return {
    async round(n) {
      const id = DEMO_ORDER_IDS[n % DEMO_ORDER_IDS.length]!;
      const userId = n % 2 === 0 ? undefined : `u-${(n % 5) + 1}`;
      const paymentId = DEMO_PAYMENT_ORDER_IDS[n % DEMO_PAYMENT_ORDER_IDS.length]!;
      const deadline = (): number => Date.now() + callTimeoutMs;
      return [
        await measure('unary', `GetOrder ${id}`, id === 'o-404' ? grpc.status.NOT_FOUND : grpc.status.OK, async () =>
          describeOrder(await unaryCall(client, methods.getOrder, { id }, { deadline: deadline() })),
        ),
        await measure('stream', `ListOrders ${userId === undefined ? 'all' : `user ${userId}`}`, grpc.status.OK, async () => {
          let count = 0;
          const request = userId === undefined ? {} : { userId };
          for await (const _order of serverStreamCall(client, methods.listOrders, request, { deadline: deadline() })) count++;
          return `${count} order${count === 1 ? '' : 's'}`;
        }),
        await measure('unary', `GetOrderPayment ${paymentId}`, grpc.status.PERMISSION_DENIED, async () => {
          const p = await unaryCall(client, methods.getOrderPayment, { id: paymentId }, { deadline: deadline() });
          return `${dollars(p.totalCents)} on ${p.cardBrand} ····${p.cardLast4}`;
        }),
      ];
    },
    close: () => client.close(),
  };
}

/** One printable line: local time, kind, call, status, latency, detail (and the sidecar error code, if any). */
export function formatOutcome(o: CallOutcome, at: Date): string {
  const time = `${at.toTimeString().slice(0, 8)}.${String(at.getMilliseconds()).padStart(3, '0')}`;
  const status = grpc.status[o.code] ?? String(o.code);
  const note = o.code === o.expected ? (o.code === grpc.status.OK ? '' : ' (expected)') : ' (UNEXPECTED)';
  const mesh = o.meshletError ? ` [meshlet ${o.meshletError}]` : '';
  return `${time}  ${o.kind.padEnd(6)}  ${o.label.padEnd(22)}  ${status.padEnd(17)}  ${o.latencyMs.toFixed(1).padStart(7)} ms  ${o.detail}${note}${mesh}`;
}
