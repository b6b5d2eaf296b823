// SPDX-License-Identifier: Apache-2.0
// The standard gRPC health service (grpc.health.v1.Health: Check + Watch) for the example services, written against
// the bundled health.proto. Semantics follow grpc/grpc doc/health-checking.md.

import * as grpc from '@grpc/grpc-js';

import { loadService } from './proto.js';

/** The wire enum; `SERVICE_UNKNOWN` is only ever sent by Watch. */
export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
/** A status a server may set for one of its services. */
export type SettableStatus = 'SERVING' | 'NOT_SERVING';

/** Mirrors `grpc.health.v1.HealthCheckRequest`; `service: ''` asks about the whole server. */
export interface HealthCheckRequest {
  service: string;
}
/** Mirrors `grpc.health.v1.HealthCheckResponse`. */
export interface HealthCheckResponse {
  status: ServingStatus;
}

/** Path segments of the bundled proto under the repository root. */
export const HEALTH_PROTO = ['examples', 'services', 'shared', 'health.proto'] as const;
/** Fully-qualified name of the health service. */
export const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';

/** The loaded `grpc.health.v1.Health` definition (for servers and for clients via makeGenericClientConstructor). */
export function healthServiceDefinition(): grpc.ServiceDefinition {
  return loadService(HEALTH_PROTO, HEALTH_SERVICE_NAME);
}

/** A health service instance: register `definition` + `implementation` on a grpc.Server. */
export interface HealthService {
  readonly definition: grpc.ServiceDefinition;
  readonly implementation: grpc.UntypedServiceImplementation;
  /** Sets the status of `service` ('' = whole server) and notifies its watchers when it changed. Ignored after shutdown(). */
  setStatus(service: string, status: SettableStatus): void;
  /** The current status of `service`, or undefined when it was never registered. */
  statusOf(service: string): SettableStatus | undefined;
  /**
   * Marks every service NOT_SERVING, sends that to every watcher and ends their streams, so that
   * `Server.tryShutdown()` is not held open by Watch calls. Idempotent. Watch calls arriving later get the
   * NOT_SERVING status and an immediately ended stream.
   */
  shutdown(): void;
}

type WatchCall = grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;

/**
 * Creates a health service with the given initial statuses (e.g. `{ '': 'SERVING', 'user.v1.UserService': 'SERVING' }`).
 * Check on an unregistered service answers NOT_FOUND; Watch sends SERVICE_UNKNOWN and keeps the stream open.
 */
export function createHealthService(initial: Readonly<Record<string, SettableStatus>>): HealthService {
  const statuses = new Map<string, SettableStatus>(Object.entries(initial));
  // Watchers per service, each with the last status it was sent (Watch sends only changes).
  const watchers = new Map<string, Map<WatchCall, ServingStatus>>();
  let shuttingDown = false;

  const send = (call: WatchCall, service: string): void => {
    const status: ServingStatus = statuses.get(service) ?? 'SERVICE_UNKNOWN';
    const byCall = watchers.get(service);
    if (byCall?.get(call) === status) return;
    byCall?.set(call, status);
    // Health updates are rare and tiny, so the writable's own buffer is a sufficient bound here.
    call.write({ status });
  };

  const check: grpc.handleUnaryCall<HealthCheckRequest, HealthCheckResponse> = (call, callback) => {
    const status = statuses.get(call.request.service);
    if (status === undefined) {
      callback({ code: grpc.status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
      return;
    }
    callback(null, { status });
  };

  const watch: grpc.handleServerStreamingCall<HealthCheckRequest, HealthCheckResponse> = (call) => {
    const service = call.request.service;
    if (shuttingDown) {
      call.write({ status: statuses.get(service) ?? 'SERVICE_UNKNOWN' });
      call.end();
      return;
    }
    let byCall = watchers.get(service);
    if (byCall === undefined) {
      byCall = new Map();
      watchers.set(service, byCall);
    }
    byCall.set(call, 'UNKNOWN');
    const forget = (): void => {
      const calls = watchers.get(service);
      calls?.delete(call);
      if (calls?.size === 0) watchers.delete(service);
    };
    call.on('cancelled', forget);
    call.on('finish', forget);
    send(call, service);
  };

  return {
    definition: healthServiceDefinition(),
    implementation: { Check: check, Watch: watch },
    setStatus(service, status) {
      if (shuttingDown) return;
      statuses.set(service, status);
      for (const call of watchers.get(service)?.keys() ?? []) send(call, service);
    },
    statusOf(service) {
      return statuses.get(service);
    },
    shutdown() {
      if (shuttingDown) return;
      shuttingDown = true;
      for (const service of statuses.keys()) statuses.set(service, 'NOT_SERVING');
      for (const [service, calls] of [...watchers]) {
        for (const call of [...calls.keys()]) {
          send(call, service);
          call.end();
        }
      }
      watchers.clear();
    },
  };
}
