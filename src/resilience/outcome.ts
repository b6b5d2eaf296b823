// SPDX-License-Identifier: Apache-2.0
// How an attempt ended, for breakers and outlier detection: success, failure (the endpoint or backend is
// unhealthy) or neutral (says nothing about it: cancelled by the client, rejected by meshlet itself).
// Failures follow Linkerd's failure accrual: UNAVAILABLE, INTERNAL, DATA_LOSS, DEADLINE_EXCEEDED, plus
// connection errors. Any other status is an answer from a working app (NOT_FOUND is not a sick endpoint).

import type { ErrorCode } from '../errors.js';
import type { CallEnd, MeshletError } from '../grpc/call.js';
import { Status } from '../grpc/status.js';
import type { Outcome } from './circuit-breaker.js';

const FAILURE_MASK =
  (1 << Status.UNAVAILABLE) | (1 << Status.INTERNAL) | (1 << Status.DATA_LOSS) | (1 << Status.DEADLINE_EXCEEDED);

/**
 * meshlet-made errors that say nothing about the upstream's health: the call never reached it because of a local
 * decision or the client, the upstream declined gracefully (REFUSED_STREAM, GOAWAY while draining), or a meshlet
 * bug. Connect failures and lost connections are failures (through their status).
 */
const NEUTRAL_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'ERR_DOWNSTREAM_CANCELLED',
  'ERR_BAD_REQUEST',
  'ERR_NO_ENDPOINTS',
  'ERR_UNKNOWN_BACKEND',
  'ERR_DRAINING',
  'ERR_UPSTREAM_REFUSED_STREAM',
  'ERR_UPSTREAM_GOAWAY',
  'ERR_INTERNAL',
  'ERR_CIRCUIT_OPEN',
  'ERR_LIMIT_MAX_REQUESTS',
  'ERR_LIMIT_MAX_PENDING',
  // A quiet stream (a watch with nothing to report) is not a sick endpoint. ERR_UNARY_TIMEOUT stays a failure:
  // the upstream did not start answering a call at all.
  'ERR_STREAM_IDLE_TIMEOUT',
]);

/** The outcome of a gRPC status as the upstream sent it. CANCELLED is neutral. */
function outcomeOfStatus(status: number): Outcome {
  if (status === Status.OK) return 'success';
  if (status === Status.CANCELLED) return 'neutral';
  return ((1 << status) & FAILURE_MASK) !== 0 ? 'failure' : 'success';
}

/** The outcome of a meshlet-made error. A deadline that expired before the attempt was sent is neutral. */
export function outcomeOfError(e: MeshletError): Outcome {
  if (NEUTRAL_CODES.has(e.code)) return 'neutral';
  if (e.code === 'ERR_DEADLINE_EXCEEDED' && e.neverReachedApp) return 'neutral';
  return outcomeOfStatus(e.grpcStatus);
}

/** The outcome of a finished reply. */
export function outcomeOfEnd(end: CallEnd): Outcome {
  return end.error === undefined ? outcomeOfStatus(end.status) : outcomeOfError(end.error);
}
