// SPDX-License-Identifier: Apache-2.0
// Quick mode (`meshlet proxy`): the bootstrap its flags stand for, an inbound listener whose "app" is the upstream,
// so a quick proxy runs the same chain as a sidecar's inbound side. Validated by the same pipeline as a file.

import { loadBootstrap, type LoadResult } from './load.js';
import type { BootstrapInput } from './schema.js';
import { staticSource } from './source.js';

/** The flags of `meshlet proxy`, as given on the command line (validated by {@link loadQuickMode}). */
export interface QuickModeFlags {
  /** `--listen HOST:PORT`: where callers connect. Required; port 0 picks a free port. */
  readonly listen: string;
  /** `--upstream HOST:PORT`: the gRPC server every call goes to. Required. */
  readonly upstream: string;
  /**
   * `--admin HOST:PORT`: the admin server. Default: the bootstrap default, 127.0.0.1:6191, as with `meshlet run`;
   * `127.0.0.1:0` picks a free port.
   */
  readonly admin?: string | undefined;
  /** `--log-level`: one of trace debug info warn error fatal silent. Default info. */
  readonly logLevel?: string | undefined;
  /** False with `--no-access-log`. Default true. */
  readonly accessLog?: boolean | undefined;
  /** `--grpc-web-origin ORIGIN` (repeatable): serve gRPC-Web with CORS for these origins. Default: no gRPC-Web. */
  readonly grpcWebOrigins?: readonly string[] | undefined;
}

/** The service name quick mode runs under (logs, metrics, health). */
export const QUICK_MODE_SERVICE = 'proxy';

/**
 * The bootstrap document the flags stand for. Only given flags appear, so every default is the schema's own (the
 * admin address in particular, which is why quick mode and `run` agree on it). `logLevel` is passed through
 * unchecked: the schema rejects an unknown level with its path.
 */
export function quickModeInput(flags: QuickModeFlags): BootstrapInput {
  return {
    service: { name: QUICK_MODE_SERVICE },
    inbound: {
      listen: flags.listen,
      app: flags.upstream,
      ...(flags.grpcWebOrigins !== undefined && { grpcWeb: { cors: { allowedOrigins: [...flags.grpcWebOrigins] } } }),
    },
    ...(flags.admin !== undefined && { admin: { listen: flags.admin } }),
    log: {
      ...(flags.logLevel !== undefined && { level: flags.logLevel as NonNullable<BootstrapInput['log']>['level'] }),
      accessLog: flags.accessLog ?? true,
    },
  };
}

/**
 * Validates the quick-mode bootstrap and applies its defaults. The flags are the whole config: `MESHLET_*`
 * variables do not override them. Errors name `command line` as their file.
 */
export function loadQuickMode(flags: QuickModeFlags): Promise<LoadResult> {
  return loadBootstrap(staticSource('command line', JSON.stringify(quickModeInput(flags))), {});
}
