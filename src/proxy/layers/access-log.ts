// SPDX-License-Identifier: Apache-2.0
// access-log: one JSON line per call when it ends (direction, service/method, status, duration, bytes, upstream
// endpoint, attempts and retries, trace_id/span_id when tracing is on, meshlet error code, and the inbound `authz`
// decision {decision, rule, mode} when authz decided the call, and `rate_limit` {decision, limit, source} when a
// rate limit matched: the rejecting (or shadow-rejecting) limit, else `admitted` by all). Field names are flat snake_case so ELK/Loki need no
// parsing rules.
// Costs nothing but a level check when info is off.

import { toProxyError } from '../../errors.js';
import type { Logger } from '../../telemetry/logger.js';
import { traceKey } from '../../telemetry/propagation.js';
import { authzKey } from '../../authz/evaluate.js';
import { rateLimitKey } from './rate-limit.js';
import type { ProxyCall, ProxyReply } from '../call.js';
import type { CallEnd } from '../../grpc/call.js';
import { STATUS_NAMES } from '../../grpc/status.js';
import type { Layer } from '../layer.js';
import { grpcWebKey } from '../web/serve.js';

export function accessLogLayer(deps: { readonly log: Logger }): Layer {
  // Access lines carry no headers, tokens or keys, so they skip the process logger's redaction, whose wildcard paths
  // cost ~10 µs per line (measured: 15 µs vs 5 µs per line). The level still follows the root (PUT /log-level).
  const log = deps.log.child({}, { redact: [] });
  return (next) => (call: ProxyCall) => {
    if (!log.isLevelEnabled('info')) return next(call);
    return next(call).then(
      (reply: ProxyReply) => {
        reply.onEnd((end) => write(log, call, end));
        return reply;
      },
      (err: unknown) => {
        const e = toProxyError(err);
        write(log, call, { status: e.grpcStatus, message: e.message, error: e });
        throw e;
      },
    );
  };
}

function write(log: Logger, call: ProxyCall, end: CallEnd): void {
  // Set by the tracing layer; undefined (and the fields left out) when tracing is off.
  const trace = call.get(traceKey);
  // Set by the authz layer (inbound, when the policy has an authz section); shadow: what would have happened.
  const authz = call.get(authzKey);
  // Set by the rate-limit layer when a limit matched the call.
  const rl = call.get(rateLimitKey);
  const notAdmitted = rl === undefined ? undefined : (rl.rejectedBy ?? rl.limits.find((l) => l.decision !== 'admitted'));
  log.info(
    {
      access: true,
      direction: call.direction,
      grpc_service: call.service,
      grpc_method: call.method,
      authority: call.authority,
      grpc_code: STATUS_NAMES[end.status] ?? String(end.status),
      grpc_status: end.status,
      grpc_message: end.status === 0 ? undefined : end.message,
      error_code: end.error?.code,
      duration_ms: Math.round((performance.now() - call.startMs) * 1000) / 1000,
      request_bytes: call.body.bytes,
      response_bytes: call.responseBytes,
      upstream: call.endpoint,
      attempts: call.attempts,
      retries: call.attempts > 1 ? call.attempts - 1 : 0,
      trace_id: trace?.traceId,
      span_id: trace?.spanId,
      peer: call.peer.address,
      peer_identity: call.peer.identity,
      authz: authz === undefined ? undefined : { decision: authz.decision, rule: authz.rule, mode: authz.mode },
      rate_limit:
        rl === undefined
          ? undefined
          : notAdmitted === undefined
            ? { decision: 'admitted', limits: rl.limits.map((l) => l.limit.name) }
            : { decision: notAdmitted.decision, limit: notAdmitted.limit.name, source: notAdmitted.source },
      // Set for calls that arrived as gRPC-Web: the HTTP protocol they came on (http/1.1, h2).
      grpc_web: call.get(grpcWebKey),
    },
    'call',
  );
}
