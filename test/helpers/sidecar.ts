// SPDX-License-Identifier: Apache-2.0
// Starts a real meshlet sidecar in-process (createApp on port 0) for integration tests, with logs captured.

import { Writable } from 'node:stream';
import { createApp, type App, type AppOptions } from '../../src/app.js';
import { bootstrapSchema, type BootstrapInput } from '../../src/config/schema.js';
import type { Resolver } from '../../src/discovery/resolver.js';
import { createLogger } from '../../src/telemetry/logger.js';
import type { CertSource } from '../../src/tls/material.js';
import type { Policy } from '../../src/policy/schema.js';

export interface Sidecar {
  readonly app: App;
  readonly inbound: string | undefined;
  readonly outbound: string | undefined;
  readonly admin: string;
  /** Parsed JSON log lines written so far. */
  readonly logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startSidecar(input: Partial<BootstrapInput> & Pick<BootstrapInput, 'service'>, options: { resolver?: Resolver; level?: 'info' | 'debug' | 'silent'; certSource?: CertSource; tls?: Pick<AppOptions, 'inboundTls' | 'appConnector'>; policy?: Policy } = {}): Promise<Sidecar> {
  const config = bootstrapSchema.parse({
    admin: { listen: '127.0.0.1:0' },
    log: { level: options.level ?? 'info', accessLog: true },
    ...input,
  });
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger({ level: config.log.level, destination });
  const app = await createApp(config, {
    log,
    ...(options.resolver ? { resolver: options.resolver } : {}),
    ...(options.certSource ? { certSource: options.certSource } : {}),
    ...(options.policy ? { policy: options.policy } : {}),
    ...options.tls,
  });
  const a = await app.start();
  let closed = false;
  return {
    app,
    inbound: a.inbound ? `127.0.0.1:${a.inbound.port}` : undefined,
    outbound: a.outbound ? `127.0.0.1:${a.outbound.port}` : undefined,
    admin: `127.0.0.1:${a.admin?.port}`,
    logs,
    async close() {
      if (closed) return;
      closed = true;
      await app.drain(0);
    },
  };
}

/** The two ways through the mesh to one app: `one` (an inbound sidecar alone) and `caller` → `callee` (two sidecars). */
export interface MeshPaths {
  readonly one: Sidecar;
  readonly callee: Sidecar;
  readonly caller: Sidecar;
  close(): Promise<void>;
}

/** Starts the sidecars of MeshPaths in front of `appAddress`, all silent; the backend is named `echo`. */
export async function startMeshPaths(appAddress: string): Promise<MeshPaths> {
  const one = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: appAddress } }, { level: 'silent' });
  const callee = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: appAddress } }, { level: 'silent' });
  const caller = await startSidecar(
    { service: { name: 'caller' }, outbound: { listen: '127.0.0.1:0' }, upstreams: { echo: { endpoints: [callee.inbound as string] } } },
    { level: 'silent' },
  );
  return { one, callee, caller, close: async () => void (await Promise.all([one.close(), callee.close(), caller.close()])) };
}
