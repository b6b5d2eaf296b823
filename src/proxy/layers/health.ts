// SPDX-License-Identifier: Apache-2.0
// health (inbound): answers grpc.health.v1.Health/Check and /Watch on the inbound port itself, from the sidecar's
// health service (app health + sidecar readiness), instead of forwarding them to the app. Consul's gRPC check and
// Kubernetes `grpc` probes therefore see the sidecar's answer. Every other call passes with one string comparison.

import { PassThrough, Readable, Writable } from 'node:stream';
import { ProxyError } from '../../errors.js';
import {
  decodeHealthCheckRequest,
  encodeHealthCheckResponse,
  frame,
  HEALTH_CHECK_PATH,
  HEALTH_WATCH_PATH,
  ServingStatus,
  unframe,
} from '../../health/proto.js';
import type { HealthService } from '../../health/service.js';
import { type ProxyCall, ProxyReply } from '../call.js';
import { encodeGrpcMessage, Status } from '../../grpc/status.js';
import type { Layer } from '../layer.js';

const HEALTH_PREFIX = '/grpc.health.v1.Health/';

/** True for the paths of grpc.health.v1.Health. Cheap enough for every call (first char check, then prefix). */
export function isHealthPath(path: string): boolean {
  return path.charCodeAt(1) === 103 /* g */ && path.startsWith(HEALTH_PREFIX);
}

/** A health request is a few bytes; anything bigger is refused. */
const MAX_REQUEST_BYTES = 4096;

export function healthLayer(deps: { readonly health: HealthService }): Layer {
  const { health } = deps;
  return (next) => (call: ProxyCall) => {
    if (!isHealthPath(call.path)) return next(call);
    if (call.path === HEALTH_CHECK_PATH) return answerCheck(call, health);
    if (call.path === HEALTH_WATCH_PATH) return answerWatch(call, health);
    return Promise.resolve(trailersOnly(Status.UNIMPLEMENTED, `unknown method ${call.path}`));
  };
}

function trailersOnly(status: Status, message: string): ProxyReply {
  const reply = new ProxyReply(
    { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(status), 'grpc-message': encodeGrpcMessage(message) },
    null,
  );
  reply.finish({ status, message, error: undefined });
  return reply;
}

/** Reads the whole (small) request body and decodes the one HealthCheckRequest in it. */
function readService(call: ProxyCall): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const off = call.onCancel(reject);
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (size > MAX_REQUEST_BYTES) {
          off();
          call.body.detach();
          reject(new ProxyError('ERR_BAD_REQUEST', 'health check request too large', { grpcStatus: Status.RESOURCE_EXHAUSTED }));
        } else {
          chunks.push(chunk);
        }
        cb();
      },
      final(cb) {
        off();
        cb();
        try {
          const messages = unframe(Buffer.concat(chunks));
          if (messages.length !== 1) throw new Error(`expected one request message, got ${messages.length}`);
          resolve(decodeHealthCheckRequest(messages[0] as Buffer).service);
        } catch (err) {
          reject(new ProxyError('ERR_BAD_REQUEST', `invalid health check request: ${(err as Error).message}`, { grpcStatus: Status.INTERNAL }));
        }
      },
    });
    call.body.pipeTo(sink);
  });
}

function statusMessage(status: keyof typeof ServingStatus): Buffer {
  return frame(encodeHealthCheckResponse(ServingStatus[status]));
}

async function answerCheck(call: ProxyCall, health: HealthService): Promise<ProxyReply> {
  const service = await readService(call);
  if (!health.knows(service)) return trailersOnly(Status.NOT_FOUND, `unknown service "${service}"`);
  const status = await health.check();
  const body = Readable.from([statusMessage(status)], { objectMode: false });
  const reply = new ProxyReply({ ':status': 200, 'content-type': 'application/grpc' }, body);
  reply.trailers = { 'grpc-status': '0' };
  body.once('end', () => reply.finish({ status: Status.OK, message: undefined, error: undefined }));
  return reply;
}

async function answerWatch(call: ProxyCall, health: HealthService): Promise<ProxyReply> {
  const service = await readService(call);
  const body = new PassThrough();
  const reply = new ProxyReply({ ':status': 200, 'content-type': 'application/grpc' }, body);
  reply.trailers = { 'grpc-status': '0' };
  body.once('end', () => reply.finish({ status: Status.OK, message: undefined, error: undefined }));
  const unsubscribe = health.watch(service, (status, final) => {
    body.write(statusMessage(status));
    if (final) body.end();
  });
  call.onCancel((reason) => {
    unsubscribe();
    reply.finish({ status: reason.grpcStatus, message: reason.message, error: reason });
  });
  return reply;
}
