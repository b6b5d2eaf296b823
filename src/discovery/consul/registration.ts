// SPDX-License-Identifier: Apache-2.0
// Registers the local service in the local Consul agent on start (with a gRPC health check on the sidecar's
// inbound port, or its plaintext health port when it has one) and deregisters it on shutdown. The body is built by a pure function; src/app/discovery.ts owns when.

import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import type { BootstrapConfig, ConsulConfig } from '../../config/schema.js';
import type { AgentServiceRegistration, ConsulClient } from './client.js';
import { ConsulError } from './client.js';

/** What {@link buildServiceRegistration} needs. */
export interface ServiceRegistrationInput {
  /** The bootstrap `service` section (name, id, tags, meta, weight). */
  readonly service: BootstrapConfig['service'];
  /** The address peers reach this sidecar at (config `service.address`, else {@link defaultServiceAddress}). */
  readonly address: string;
  /** The inbound listener's actual port (after listen, so port 0 in tests works); 1-65535. */
  readonly port: number;
  /**
   * The port the gRPC check dials instead of `port`: the plaintext health listener's actual port
   * (`mtls.inbound.healthListen`), on the same `address`. Default `port`. Consul's agent presents no mesh
   * certificate, so with `mtls.inbound.mode: strict` a check on the inbound port could never pass.
   */
  readonly checkPort?: number;
  /** The bootstrap `consul.check` section (interval, timeout, deregister-after). */
  readonly check: ConsulConfig['check'];
  /**
   * Whether Consul's gRPC check dials the inbound port with TLS (`GRPCUseTLS`). Default false. When the inbound
   * listener requires mTLS client certificates, the agent's check cannot pass there: point it at the plaintext
   * health listener (`checkPort`) instead.
   */
  readonly grpcUseTls?: boolean;
  /** `TLSSkipVerify` for the gRPC check when `grpcUseTls` (SPIFFE certs carry no DNS SAN). Default false. */
  readonly tlsSkipVerify?: boolean;
}

/**
 * Builds the `PUT /v1/agent/service/register` body. Pure. ID defaults to `<name>-<address>-<port>`; Weights are
 * `{Passing: service.weight, Warning: 1}`; one gRPC check `GRPC: "<address>:<checkPort ?? port>"` (grpc.health.v1,
 * overall server health) with the configured interval, timeout and DeregisterCriticalServiceAfter. Throws a TypeError on
 * an unspecified address (0.0.0.0 / ::, which Consul rejects as "Invalid service address") or a bad port.
 */
export function buildServiceRegistration(input: ServiceRegistrationInput): AgentServiceRegistration {
  const { service, address, port, check } = input;
  if (address === '' || address === '0.0.0.0' || address === '::' || address === '[::]') {
    throw new TypeError(`service address "${address}" is unspecified: set service.address to a routable address`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`invalid inbound port ${port}`);
  const checkPort = input.checkPort ?? port;
  if (!Number.isInteger(checkPort) || checkPort < 1 || checkPort > 65535) throw new TypeError(`invalid health check port ${checkPort}`);
  const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
  const id = service.id ?? `${service.name}-${address}-${port}`;
  const useTls = input.grpcUseTls ?? false;
  return {
    ID: id,
    Name: service.name,
    Tags: [...service.tags],
    Address: address,
    Port: port,
    Meta: { ...service.meta },
    Weights: { Passing: service.weight, Warning: 1 },
    EnableTagOverride: false,
    Checks: [
      {
        CheckID: `service:${id}:grpc`,
        Name: 'meshlet gRPC health',
        GRPC: `${host}:${checkPort}`,
        GRPCUseTLS: useTls,
        ...(useTls && input.tlsSkipVerify === true && { TLSSkipVerify: true }),
        Interval: goDuration(check.intervalMs),
        Timeout: goDuration(check.timeoutMs),
        DeregisterCriticalServiceAfter: goDuration(check.deregisterCriticalAfterMs),
      },
    ],
  };
}

/** Milliseconds as a Go duration string the agent parses: `10s` when whole seconds, else `1500ms`. */
export function goDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** The first non-internal IPv4 address of this host, or undefined (config `service.address` default). */
export function defaultServiceAddress(
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string | undefined {
  for (const infos of Object.values(interfaces)) {
    for (const info of infos ?? []) if (info.family === 'IPv4' && !info.internal) return info.address;
  }
  return undefined;
}

export interface ConsulRegistration {
  /** The service ID registered. */
  readonly id: string;
  /**
   * Registers (or re-registers: `replace-existing-checks`, so a restart with the same ID drops stale checks).
   * Rejects with a ConsulError carrying the agent's text (e.g. ACL `Permission denied: ...`).
   */
  register(): Promise<void>;
  /**
   * Deregisters; a no-op unless register() succeeded. An agent that no longer knows the ID (404, e.g. reaped
   * after DeregisterCriticalServiceAfter) counts as done. Other failures reject (the caller logs and exits anyway).
   */
  deregister(): Promise<void>;
}

/** Ties a registration body to a client. Makes no request until register(). */
export function createConsulRegistration(
  client: ConsulClient,
  registration: AgentServiceRegistration,
): ConsulRegistration {
  let registered = false;
  return {
    id: registration.ID,
    async register() {
      await client.registerService(registration, { replaceExistingChecks: true });
      registered = true;
    },
    async deregister() {
      if (!registered) return;
      try {
        await client.deregisterService(registration.ID);
      } catch (err) {
        if (!(err instanceof ConsulError && err.statusCode === 404)) throw err;
      }
      registered = false;
    },
  };
}
