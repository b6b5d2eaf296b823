// SPDX-License-Identifier: Apache-2.0
// Helpers for unit tests of the resilience layers: calls with a fake body, stub replies, counting event hooks.
import { PassThrough } from 'node:stream';
import { ProxyCall, ProxyReply } from '../../../../src/proxy/call.js';
import type { RequestBody } from '../../../../src/proxy/request-body.js';
import { parsePolicy } from '../../../../src/policy/load.js';
import type { Policy } from '../../../../src/policy/schema.js';

export interface FakeBody {
  replayable: boolean;
  complete: boolean;
  detaches: number;
}

/** A call to `backend` with a body whose replay state the test controls. */
export function makeCall(backend: string, path = '/pkg.S/Get', body: Partial<FakeBody> = {}): ProxyCall & { fakeBody: FakeBody } {
  const fake: FakeBody = { replayable: true, complete: true, detaches: 0, ...body };
  const requestBody = {
    get replayable() {
      return fake.replayable;
    },
    get complete() {
      return fake.complete;
    },
    detach() {
      fake.detaches++;
    },
    bytes: 0,
  } as unknown as RequestBody;
  const call = new ProxyCall('outbound', { ':path': path, ':authority': `${backend}:80` }, requestBody, { address: '127.0.0.1', port: 1, identity: undefined }, performance.now());
  call.backend = backend;
  return Object.assign(call, { fakeBody: fake });
}

/** A Trailers-Only reply with `status`, already ended (as forward produces it). */
export function trailersOnly(status: number): ProxyReply {
  const reply = new ProxyReply({ ':status': 200, 'grpc-status': String(status) }, null);
  reply.finish({ status, message: undefined, error: undefined });
  return reply;
}

/** A reply with response headers and a body; end it with `reply.finish(...)`. */
export function streaming(): ProxyReply {
  return new ProxyReply({ ':status': 200, 'content-type': 'application/grpc' }, new PassThrough());
}

export function policy(yaml: string): Policy {
  const r = parsePolicy('p.yaml', yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

/** Event hooks that count calls as `hook:backend[:detail]`. */
export { countingEvents } from '../../../helpers/resilience.js';
