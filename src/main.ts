#!/usr/bin/env -S node --max-semi-space-size=8
// SPDX-License-Identifier: Apache-2.0
// Process entry and CLI: `meshlet run`, `meshlet proxy`, `meshlet validate`, `meshlet schema`, `meshlet iptables`.
// Loads config, builds the app, listens, drains on SIGTERM/SIGINT. The only module allowed to exit the process.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { AddressInfo } from 'node:net';
import { createApp, type App, type AppAddresses } from './app.js';
import { bootstrapJsonSchema } from './config/json-schema.js';
import { formatIssue } from './config/errors.js';
import { loadQuickMode } from './config/quick-mode.js';
import { fileSource } from './config/source.js';
import { loadStartup } from './cli/startup.js';
import { createLogger, flushLogger, type Logger } from './telemetry/logger.js';
import { loadQuickTls, QUICK_TLS_OPTIONS } from './tls/quick-flags.js';
import { CA_USAGE } from './tls/ca-usage.js';
import { IPTABLES_USAGE } from './redirect/usage.js';
import { INJECTOR_USAGE } from './injector/usage.js';

const USAGE = `meshlet — a gRPC service-mesh sidecar proxy

Usage:
  meshlet run --config FILE           Run the sidecar (inbound + outbound + admin) from a bootstrap YAML file.
  meshlet proxy --listen HOST:PORT --upstream HOST:PORT [--admin HOST:PORT] [--log-level LEVEL] [--no-access-log]
                                      [--tls-cert F --tls-key F [--tls-client-ca F]]
                                      [--upstream-tls --upstream-ca F [--upstream-server-name NAME]
                                       [--upstream-cert F --upstream-key F] [--upstream-spiffe-id ID]]
                                      [--grpc-web-origin ORIGIN]...
                                      Quick mode: forward every call on the listener to one upstream, same data path.
                                      --tls-*: TLS on the listener (client certs required with --tls-client-ca);
                                      --upstream-*: TLS to the upstream, verified against the CA and the name
                                      (default: the upstream host) or SPIFFE ID.
                                      --grpc-web-origin: serve gRPC-Web too, with CORS for ORIGIN (repeatable;
                                      exact, https://*.example.com or *).
  meshlet validate FILE...            Check config files (bootstrap or policy) as run loads them: env overrides
                                      applied, the bootstrap's policy.file checked too; prints every error as
                                      file:line:column: path: message (an env value's error names the variable).
  meshlet explain --config FILE [--policy FILE] BACKEND/pkg.Service/Method
                                      Print the outbound chain run would build for one call (every layer, timeout,
                                      retries, budget, limits, breaker, outlier detection, balancing) and where each
                                      value came from: the file (with its line), an env variable or a default.
                                      The policy is --policy, else the bootstrap's policy.file.
  meshlet explain --config FILE [--policy FILE] --inbound pkg.Service/Method [--identity SPIFFE-ID]
                  [--metadata KEY=VALUE]...
                                      Print the authz rules and rate limits an inbound call meets and the decision
                                      (no --identity: a caller without a verified identity).
  meshlet schema                      Print the bootstrap config's JSON Schema.
${CA_USAGE}
${IPTABLES_USAGE}
${INJECTOR_USAGE}
  meshlet --help | --version

Environment: MESHLET_LOG_LEVEL, MESHLET_ADMIN_LISTEN, MESHLET_INBOUND_LISTEN, MESHLET_OUTBOUND_LISTEN,
CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_CACERT, MESHLET_REDIS_ADDRESS, MESHLET_REDIS_USERNAME,
MESHLET_REDIS_PASSWORD override the config file (see docs/configuration.md).
Signals: SIGTERM/SIGINT drain gracefully (GOAWAY, in-flight calls finish up to shutdown.drainTimeoutMs); a second
signal exits at once.`;

/** The package version, from the nearest package.json above this file (src/ under tsx, dist/src/ when built). */
function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) return (JSON.parse(readFileSync(candidate, 'utf8')) as { version: string }).version;
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    case '--version':
    case '-v':
      process.stdout.write(`meshlet ${version()}\n`);
      return 0;
    case 'run':
      return run(rest);
    case 'proxy':
      return proxy(rest);
    case 'validate': {
      if (rest.length === 0) {
        process.stderr.write('meshlet validate: name at least one file\n');
        return 2;
      }
      const { validateFiles } = await import('./cli/validate.js');
      const result = await validateFiles(rest);
      for (const line of result.output) (result.ok ? process.stdout : process.stderr).write(`${line}\n`);
      return result.ok ? 0 : 1;
    }
    case 'explain':
      // Commands other than run and proxy load their modules on demand, so a sidecar's memory holds none of them.
      return (await import('./cli/explain.js')).explainCommand(rest);
    case 'ca':
      // Loaded on demand: the certificate library is needed by this command only.
      return (await import('./tls/ca-cli.js')).runCaCommand(rest);
    case 'iptables':
      // Loaded on demand, like ca: only the redirect's init container runs it.
      return (await import('./redirect/cli.js')).runIptablesCommand(rest);
    case 'injector':
      // Loaded on demand, like ca: a sidecar never loads the webhook.
      return (await import('./injector/command.js')).injectorCommand(rest);
    case 'schema':
      process.stdout.write(`${JSON.stringify(bootstrapJsonSchema(), null, 2)}\n`);
      return 0;
    default:
      process.stderr.write(`meshlet: unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
  }
}

async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, strict: true });
  if (values.config === undefined) {
    process.stderr.write('meshlet run: --config FILE is required\n');
    return 2;
  }
  // The same load as `meshlet validate`: env overrides, then the policy file the bootstrap names.
  const loaded = await loadStartup(fileSource(values.config), process.env);
  if (!loaded.ok) {
    for (const issue of loaded.errors) process.stderr.write(`${formatIssue(issue)}\n`);
    process.stderr.write(`meshlet: ${loaded.invalid} is invalid; nothing started\n`);
    return 1;
  }
  return serve(loaded.bootstrap);
}

/** `meshlet explain --config FILE [--policy FILE] BACKEND/pkg.Service/Method`. FILE may be a bootstrap or a policy. */
async function proxy(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      listen: { type: 'string' },
      upstream: { type: 'string' },
      admin: { type: 'string' },
      'log-level': { type: 'string' },
      'no-access-log': { type: 'boolean' },
      'grpc-web-origin': { type: 'string', multiple: true },
      ...QUICK_TLS_OPTIONS,
    },
    strict: true,
  });
  if (values.listen === undefined || values.upstream === undefined) {
    process.stderr.write('meshlet proxy: --listen HOST:PORT and --upstream HOST:PORT are required\n');
    return 2;
  }
  // --grpc-web-origin: the TLS listener also offers ALPN http/1.1, for gRPC-Web over HTTP/1.1.
  const tls = loadQuickTls(values, { http1: values['grpc-web-origin'] !== undefined });
  if (!tls.ok) {
    for (const e of tls.errors) process.stderr.write(`meshlet proxy: ${e}\n`);
    return 2;
  }
  const loaded = await loadQuickMode({
    listen: values.listen,
    upstream: values.upstream,
    admin: values.admin,
    logLevel: values['log-level'],
    accessLog: values['no-access-log'] !== true,
    grpcWebOrigins: values['grpc-web-origin'],
  });
  if (!loaded.ok) {
    for (const issue of loaded.errors) process.stderr.write(`${formatIssue(issue)}\n`);
    return 2;
  }
  // The default admin port is fixed, so a second quick proxy on one host collides there: say how to avoid it.
  return serve(loaded.config, ' (another meshlet running? --admin 127.0.0.1:0 picks a free admin port)', {
    ...(tls.tls.listener !== undefined ? { inboundTls: tls.tls.listener } : {}),
    ...(tls.tls.upstream !== undefined ? { appConnector: tls.tls.upstream } : {}),
  });
}

/** `http://host:port` of a bound admin server (IPv6 in brackets). */
function adminUrl(address: AddressInfo): string {
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

/** Builds and starts the app, tells the user where its admin server is, then waits for a signal. */
async function serve(
  config: Parameters<typeof createApp>[0],
  adminInUseHint = '',
  extra: Omit<Parameters<typeof createApp>[1], 'log'> = {},
): Promise<number> {
  const log = createLogger({ level: config.log.level });
  // A bug that escapes every handler must not die as an unstructured stack on stderr: log it as JSON (pino flushes
  // its buffer on exit) and exit non-zero, so the orchestrator restarts the sidecar. Node would exit anyway.
  const die = (what: string) => (err: unknown) => {
    log.fatal({ err }, `${what}: exiting (a meshlet bug; please report it)`);
    process.exit(70); // EX_SOFTWARE
  };
  process.on('uncaughtException', die('uncaught exception'));
  process.on('unhandledRejection', die('unhandled promise rejection'));
  // Armed before the app starts: "meshlet listening" is logged inside start(), and a SIGTERM that came between it
  // and the handler would have met node's default action (exit without draining).
  const signals = new Signals(log);
  let app: App;
  let addresses: AppAddresses;
  try {
    app = await createApp(config, { log, env: process.env, ...extra });
    addresses = await app.start();
  } catch (err) {
    log.fatal({ err }, 'meshlet failed to start');
    flushLogger(log);
    const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && String((err as Error).message).endsWith(config.admin.listen);
    process.stderr.write(`meshlet: failed to start: ${err instanceof Error ? err.message : String(err)}${inUse ? adminInUseHint : ''}\n`);
    return 1;
  }
  // The JSON log above carries the same addresses; this line is for the person at the terminal.
  if (addresses.admin !== undefined) process.stderr.write(`meshlet: admin ${adminUrl(addresses.admin)} (/ready /metrics /config /clusters)\n`);
  return signals.drainOnSignal(app);
}

/**
 * SIGTERM/SIGINT from the moment they are armed: the first drains the app (once it has started, if it came during
 * the start), a second exits at once.
 */
class Signals {
  private first: NodeJS.Signals | undefined;
  private onFirst: (() => void) | undefined;
  private onSecond: (() => void) | undefined;

  constructor(private readonly log: Logger) {
    process.on('SIGTERM', this.handle);
    process.on('SIGINT', this.handle);
  }

  private readonly handle = (signal: NodeJS.Signals): void => {
    if (this.first !== undefined) {
      this.log.warn({ signal }, 'second signal: exiting now');
      flushLogger(this.log);
      if (this.onSecond !== undefined) this.onSecond();
      else process.exit(1); // still starting: nothing to drain yet, and nobody waits for a result
      return;
    }
    this.first = signal;
    this.log.info({ signal }, 'shutting down');
    this.onFirst?.();
  };

  /** Resolves with the exit code once a signal came and the drain ended (or a second signal cut it). */
  drainOnSignal(app: App): Promise<number> {
    return new Promise((resolve) => {
      this.onSecond = () => resolve(1);
      const drain = () => {
        app.drain().then(
          () => {
            flushLogger(this.log);
            resolve(0);
          },
          (err: unknown) => {
            this.log.error({ err }, 'drain failed');
            flushLogger(this.log);
            resolve(1);
          },
        );
      };
      if (this.first !== undefined) drain();
      else this.onFirst = drain;
    });
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`meshlet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
