// SPDX-License-Identifier: Apache-2.0
// The shared process entry of the example services: flags/env → listen → one JSON "listening" line →
// SIGTERM/SIGINT → graceful tryShutdown → exit. Each service's main.ts is a call to runService().

import { parseArgs } from 'node:util';

import { createLogger, type Logger } from './logger.js';
import type { ListenOptions, RunningServer } from './server.js';

/** Where a service listens, from flags and env. */
export interface ServiceArgs {
  host: string;
  port: number;
}

/**
 * Reads `--port N` / `--host H`, falling back to the `PORT` / `HOST` env, then to `defaultPort` / `127.0.0.1`.
 * @throws Error on an unknown flag or a port outside 0-65535.
 */
export function parseServiceArgs(argv: readonly string[], env: NodeJS.ProcessEnv, defaultPort: number): ServiceArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: { port: { type: 'string' }, host: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  const rawPort = values.port ?? env.PORT ?? String(defaultPort);
  const port = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || port > 65_535) throw new Error(`invalid port "${rawPort}": expected an integer 0-65535`);
  return { host: values.host ?? env.HOST ?? '127.0.0.1', port };
}

/** What a service's main.ts provides. */
export interface ServiceEntry {
  /** The service name, bound into every log line. */
  name: string;
  /** Used when neither --port nor PORT is given. */
  defaultPort: number;
  /** Builds and binds the server. */
  start(listen: ListenOptions, logger: Logger): Promise<RunningServer>;
  /** How long in-flight calls may run after SIGTERM. Default 5000 ms. */
  drainMs?: number;
}

/**
 * Runs a service as a process. Exit codes: 0 after a graceful stop, 1 when it cannot start (e.g. port taken),
 * 2 on bad flags. A second SIGTERM/SIGINT while draining exits 1 at once.
 */
export async function runService(entry: ServiceEntry): Promise<void> {
  const logger = createLogger(entry.name);
  let args: ServiceArgs;
  try {
    args = parseServiceArgs(process.argv.slice(2), process.env, entry.defaultPort);
  } catch (err) {
    logger.fatal({ err }, 'bad arguments (usage: --port N --host H, or PORT / HOST env)');
    process.exit(2);
  }
  let running: RunningServer;
  try {
    running = await entry.start(args, logger);
  } catch (err) {
    logger.fatal({ err }, 'cannot start');
    process.exit(1);
  }
  logger.info({ address: running.address, port: running.port }, 'listening');

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal while draining: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void running.close(entry.drainMs ?? 5000).then(() => {
      logger.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
