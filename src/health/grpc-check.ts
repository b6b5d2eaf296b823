// SPDX-License-Identifier: Apache-2.0
// One grpc.health.v1.Health/Check call over a pooled HTTP/2 session (the same pools the data path uses), with a
// timeout. Used to check the local app (inbound pool) and, when enabled, upstream endpoints (outbound pool).

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { toProxyError } from '../errors.js';
import { Status } from '../grpc/status.js';
import { formatGrpcTimeout } from '../grpc/timeout.js';
import type { H2Stream } from '../h2/stream.js';
import type { PooledSession, SessionPool } from '../h2/session-pool.js';
import {
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  frame,
  HEALTH_CHECK_PATH,
  servingStatusName,
  type ServingStatusName,
  unframe,
} from './proto.js';

/** The outcome of one check: the served status, or why there was none. */
export type HealthCheckResult =
  | { readonly ok: true; readonly status: ServingStatusName }
  /** The call failed: `grpcStatus` when the server answered with a non-OK status (e.g. UNIMPLEMENTED, NOT_FOUND). */
  | { readonly ok: false; readonly grpcStatus: number | undefined; readonly error: string };

/** Responses larger than this are not health responses. */
const MAX_RESPONSE_BYTES = 1024;

/**
 * Calls `Check({service})` on `address` through `pool` and resolves (never rejects) within about `timeoutMs`.
 * A reply without exactly one message, an HTTP error or a reset is `{ok: false}`.
 */
/** RST_STREAM code CANCEL (RFC 9113 §7). */
const H2_CANCEL = 8;

export function checkGrpcHealth(pool: SessionPool, address: string, service: string, timeoutMs: number): Promise<HealthCheckResult> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: HealthCheckResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      finish({ ok: false, grpcStatus: Status.DEADLINE_EXCEEDED, error: `health check timed out after ${timeoutMs} ms` });
      stream?.close(H2_CANCEL);
    }, timeoutMs);
    let stream: H2Stream | undefined;
    const open = (pooled: PooledSession) => {
      if (settled) {
        pooled.release();
        return;
      }
      const headers: OutgoingHttpHeaders = {
        ':method': 'POST',
        ':scheme': 'http',
        ':path': HEALTH_CHECK_PATH,
        ':authority': address,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': formatGrpcTimeout(timeoutMs),
        'user-agent': 'meshlet-health',
      };
      try {
        stream = pooled.request(headers);
      } catch (err) {
        finish({ ok: false, grpcStatus: undefined, error: toProxyError(err).message });
        return;
      }
      const s = stream;
      const chunks: Buffer[] = [];
      let size = 0;
      let grpcStatus: number | undefined;
      let grpcMessage: string | undefined;
      let httpStatus = 0;
      const readStatus = (h: IncomingHttpHeaders) => {
        const raw = h['grpc-status'];
        if (raw !== undefined) grpcStatus = Number(raw);
        const msg = h['grpc-message'];
        if (typeof msg === 'string') grpcMessage = decodeURIComponent(msg);
      };
      s.on('response', (h: IncomingHttpHeaders) => {
        httpStatus = Number(h[':status'] ?? 0);
        readStatus(h);
      });
      s.on('trailers', readStatus);
      s.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          finish({ ok: false, grpcStatus: undefined, error: 'health response too large' });
          s.close(H2_CANCEL);
          return;
        }
        chunks.push(chunk);
      });
      s.on('close', () => {
        if (grpcStatus === undefined) {
          const why =
            httpStatus !== 0 && httpStatus !== 200
              ? `HTTP status ${httpStatus}`
              : `stream closed (HTTP/2 code ${s.rstCode ?? 0}) without a gRPC status`;
          finish({ ok: false, grpcStatus: undefined, error: why });
          return;
        }
        if (grpcStatus !== 0) {
          finish({ ok: false, grpcStatus, error: grpcMessage ?? `grpc-status ${grpcStatus}` });
          return;
        }
        try {
          const messages = unframe(Buffer.concat(chunks));
          if (messages.length !== 1) throw new Error(`expected one response message, got ${messages.length}`);
          finish({ ok: true, status: servingStatusName(decodeHealthCheckResponse(messages[0] as Buffer).status) });
        } catch (err) {
          finish({ ok: false, grpcStatus: undefined, error: (err as Error).message });
        }
      });
      s.end(frame(encodeHealthCheckRequest(service)));
    };
    let acquired: PooledSession | Promise<PooledSession>;
    try {
      acquired = pool.acquire(address);
    } catch (err) {
      finish({ ok: false, grpcStatus: undefined, error: toProxyError(err).message });
      return;
    }
    if (acquired instanceof Promise) {
      acquired.then(open, (err: unknown) => finish({ ok: false, grpcStatus: undefined, error: toProxyError(err).message }));
    } else {
      open(acquired);
    }
  });
}
