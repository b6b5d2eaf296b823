// SPDX-License-Identifier: Apache-2.0
// Readiness probes for the demo: a sidecar is ready when its admin /ready answers 200, an app when its gRPC health
// Check says SERVING. waitFor() polls a probe until it passes, a bounded deadline passes, or it is aborted. Once
// ready, sidecarIdentity() reads the SPIFFE ID each sidecar presents from its admin /certs.

import { request } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';

import * as grpc from '@grpc/grpc-js';

import { unaryCall } from '../services/shared/grpc-client.js';
import { healthServiceDefinition, type HealthCheckRequest, type HealthCheckResponse } from '../services/shared/health.js';
import { methodOf } from '../services/shared/proto.js';

/** `what` did not pass its probe before the deadline. */
export class NotReadyError extends Error {
  constructor(
    readonly what: string,
    readonly waitedMs: number,
  ) {
    super(`${what} not ready within ${(waitedMs / 1000).toFixed(1)} s`);
    this.name = 'NotReadyError';
  }
}

/** A check that resolves true when the thing is ready; false (or a rejection) means "not yet". */
export type Probe = () => Promise<boolean>;

/** Options of waitFor. */
export interface WaitOptions {
  /** Absolute deadline, epoch ms (Date.now() clock). */
  deadlineMs: number;
  /** Pause between probes. Default 100 ms; range 10-5000. */
  intervalMs?: number;
  /** Stops waiting early (the demo was told to stop, or a child died). */
  signal?: AbortSignal;
  /** Clock, epoch ms. Default Date.now. */
  now?: () => number;
}

/**
 * Runs `probe` until it returns true. Rejects with a NotReadyError at the deadline, or with the abort reason when
 * `signal` aborts.
 */
export async function waitFor(what: string, probe: Probe, options: WaitOptions): Promise<void> {
  const { deadlineMs, intervalMs = 100, signal, now = Date.now } = options;
  const started = now();
  for (;;) {
    signal?.throwIfAborted();
    if (await probe().catch(() => false)) return;
    if (now() >= deadlineMs) throw new NotReadyError(what, deadlineMs - started);
    await delay(intervalMs, undefined, signal ? { signal } : {}).catch((err: unknown) => {
      signal?.throwIfAborted(); // the caller's reason, not the timer's AbortError
      throw err;
    });
  }
}

/** True when GET `url` answers HTTP 200 within `timeoutMs` (default 1000). */
export function httpOk(url: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * True when grpc.health.v1.Health/Check on `address` says SERVING for `service` ('' = the whole server) within
 * `timeoutMs` (default 1000).
 */
export async function grpcServing(address: string, service = '', timeoutMs = 1000): Promise<boolean> {
  const check = methodOf<HealthCheckRequest, HealthCheckResponse>(healthServiceDefinition(), 'Check');
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  try {
    const reply = await unaryCall(client, check, { service }, { deadline: Date.now() + timeoutMs });
    return reply.status === 'SERVING';
  } catch {
    return false;
  } finally {
    client.close();
  }
}

/**
 * True when the sidecar admin `GET <adminUrl>/clusters` lists `backend` with at least one ready endpoint within
 * `timeoutMs` (default 1000): the sidecar can route to it now. With Consul discovery that takes the backend's
 * first passing health check plus the sidecar's next blocking read, while the sidecar's /ready is already 200.
 */
export function upstreamReady(adminUrl: string, backend: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${adminUrl}/clusters`, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('error', () => resolve(false));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve(false);
        try {
          const doc = JSON.parse(body) as { upstreams?: Array<{ name?: unknown; endpoints?: Array<{ ready?: unknown }> }> };
          const upstream = doc.upstreams?.find((u) => u.name === backend);
          resolve(upstream?.endpoints?.some((e) => e.ready === true) ?? false);
        } catch {
          resolve(false);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** What the demo prints of a sidecar's `GET /certs`. */
export interface SidecarIdentity {
  /** Its SPIFFE ID, e.g. `spiffe://demo.meshlet/svc/user-service`. */
  identity: string;
  /** Seconds until its leaf expires. */
  expiresInSeconds: number;
}

/**
 * The identity the sidecar at `adminUrl` presents now, from `GET <adminUrl>/certs`, within `timeoutMs` (default
 * 1000). Rejects when the answer is not 200 or lacks the fields (e.g. 503 before the first certificate).
 */
export async function sidecarIdentity(adminUrl: string, timeoutMs = 1000): Promise<SidecarIdentity> {
  const res = await fetch(`${adminUrl}/certs`, { signal: AbortSignal.timeout(timeoutMs) });
  const body = (await res.json()) as { identity?: unknown; expiresInSeconds?: unknown; error?: unknown };
  if (res.status !== 200 || typeof body.identity !== 'string' || typeof body.expiresInSeconds !== 'number') {
    throw new Error(`${adminUrl}/certs answered ${res.status}${typeof body.error === 'string' ? `: ${body.error}` : ''}`);
  }
  return { identity: body.identity, expiresInSeconds: body.expiresInSeconds };
}

/** `user-service sidecar   spiffe://demo.meshlet/svc/user-service  (cert expires in 23h59m)`. */
export function formatIdentity(name: string, { identity, expiresInSeconds }: SidecarIdentity): string {
  const s = Math.max(0, expiresInSeconds);
  const two = (n: number): string => String(n).padStart(2, '0');
  const left = s >= 3600 ? `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m` : `${Math.floor(s / 60)}m${two(s % 60)}s`;
  return `${name.padEnd(22)} ${identity}  (cert ${expiresInSeconds < 0 ? 'expired' : `expires in ${left}`})`;
}
