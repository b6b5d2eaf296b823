// SPDX-License-Identifier: Apache-2.0
// Binds an example gRPC server (plaintext h2c, as a sidecar's local app) and stops it gracefully: health goes
// NOT_SERVING first, then Server.tryShutdown lets in-flight calls finish, bounded by a grace period.

import * as grpc from '@grpc/grpc-js';

import type { HealthService } from './health.js';

/** A bound, serving example server. */
export interface RunningServer {
  /** The host it was bound to, e.g. `127.0.0.1`. */
  readonly host: string;
  /** The bound port (the OS-chosen one when 0 was asked for). */
  readonly port: number;
  /** `host:port`, ready to dial (IPv6 hosts in brackets). */
  readonly address: string;
  readonly server: grpc.Server;
  readonly health: HealthService;
  /**
   * Graceful stop: health → NOT_SERVING (watchers are told and their streams end), no new calls, in-flight calls run
   * to completion; whatever is left after `graceMs` is cancelled. Idempotent (later calls return the same promise).
   * @param graceMs default 5000 ms; range 0-600000.
   */
  close(graceMs?: number): Promise<void>;
}

/** Where to bind. */
export interface ListenOptions {
  /** Default `127.0.0.1`: behind a sidecar the app is reached over loopback only. */
  host?: string;
  /** Default 0 (an OS-chosen free port); range 0-65535. */
  port?: number;
}

/** `host:port` with IPv6 literals bracketed. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Binds `server` (services already added) and resolves once it accepts calls.
 * @throws Error naming the address when the bind fails (e.g. the port is taken).
 */
export async function listen(server: grpc.Server, health: HealthService, options: ListenOptions = {}): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const wanted = joinHostPort(host, options.port ?? 0);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(wanted, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err) reject(new Error(`cannot listen on ${wanted}: ${err.message}`, { cause: err }));
      else resolve(bound);
    });
  });
  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    address: joinHostPort(host, port),
    server,
    health,
    close(graceMs = 5000) {
      closing ??= new Promise<void>((resolve) => {
        health.shutdown();
        const force = setTimeout(() => server.forceShutdown(), graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closing;
    },
  };
}
