#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Process entry and CLI: `meshlet run`, `meshlet proxy`, `meshlet validate`, `meshlet schema`. Loads config, builds
// the app, listens, drains on SIGTERM/SIGINT. The only module allowed to exit the process.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createApp, type App } from './app.js';
import { bootstrapJsonSchema } from './config/json-schema.js';
import { loadBootstrap } from './config/load.js';
import { formatIssue } from './config/errors.js';
import { fileSource, staticSource } from './config/source.js';
import { validateFiles } from './config/validate.js';
import { createLogger, flushLogger, type Logger } from './telemetry/logger.js';
// Resilience policy: `explain`, and policy checks before `run` starts anything.
import { readText } from './config/load.js';
import type { BootstrapConfig } from './config/schema.js';
import { detectKind } from './config/validate.js';
import { explainCall, parseCallName } from './policy/explain.js';
import { loadPolicy } from './policy/load.js';
import { EMPTY_POLICY } from './policy/schema.js';
import { CA_USAGE, runCaCommand } from './tls/ca-cli.js';

const USAGE = `meshlet — a gRPC service-mesh sidecar proxy

Usage:
  meshlet run --config FILE           Run the sidecar (inbound + outbound + admin) from a bootstrap YAML file.
  meshlet proxy --listen HOST:PORT --upstream HOST:PORT [--admin HOST:PORT] [--log-level LEVEL] [--no-access-log]
                                      Quick mode: forward every call on the listener to one upstream, same data path.
  meshlet validate FILE...            Check config files (bootstrap or policy); prints every error as
                                      file:line:column: path: message.
  meshlet explain --config FILE [--policy FILE] BACKEND/pkg.Service/Method
                                      Print the effective outbound chain for one call (timeout, retries, budget,
                                      limits, breaker, outlier detection, balancing) and where each value came from.
  meshlet schema                      Print the bootstrap config's JSON Schema.
${CA_USAGE}
  meshlet --help | --version

Environment: MESHLET_LOG_LEVEL, MESHLET_ADMIN_LISTEN, MESHLET_INBOUND_LISTEN, MESHLET_OUTBOUND_LISTEN,
CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_CACERT override the config file (see docs/configuration.md).
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
      const result = await validateFiles(rest);
      for (const line of result.output) (result.ok ? process.stdout : process.stderr).write(`${line}\n`);
      return result.ok ? 0 : 1;
    }
    case 'explain':
      return explain(rest);
    case 'ca':
      return runCaCommand(rest);
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
  const loaded = await loadBootstrap(fileSource(values.config));
  if (!loaded.ok) {
    for (const issue of loaded.errors) process.stderr.write(`${formatIssue(issue)}\n`);
    process.stderr.write(`meshlet: ${values.config} is invalid; nothing started\n`);
    return 1;
  }
  const policyFile = loaded.config.policy?.file;
  if (policyFile !== undefined) {
    const policy = await loadPolicy(fileSource(policyFile));
    if (!policy.ok) {
      for (const issue of policy.errors) process.stderr.write(`${formatIssue(issue)}\n`);
      process.stderr.write(`meshlet: ${policyFile} is invalid; nothing started\n`);
      return 1;
    }
  }
  return serve(loaded.config);
}

/** `meshlet explain --config FILE [--policy FILE] BACKEND/pkg.Service/Method`. FILE may be a bootstrap or a policy. */
async function explain(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, policy: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const call = positionals.length === 1 ? parseCallName(positionals[0] as string) : undefined;
  if (call === undefined || (values.config === undefined && values.policy === undefined)) {
    process.stderr.write('meshlet explain: usage: meshlet explain --config FILE [--policy FILE] BACKEND/pkg.Service/Method\n');
    return 2;
  }
  let bootstrap: BootstrapConfig | undefined;
  let policyFile = values.policy;
  if (values.config !== undefined) {
    const text = await readText(fileSource(values.config));
    if (typeof text !== 'string') {
      process.stderr.write(`${formatIssue(text)}\n`);
      return 1;
    }
    if (detectKind(text) === 'policy') policyFile ??= values.config;
    else {
      const loaded = await loadBootstrap(staticSource(values.config, text), {});
      if (!loaded.ok) {
        for (const issue of loaded.errors) process.stderr.write(`${formatIssue(issue)}\n`);
        return 1;
      }
      bootstrap = loaded.config;
      policyFile ??= bootstrap.policy?.file;
    }
  }
  let policy = EMPTY_POLICY;
  if (policyFile !== undefined) {
    const loaded = await loadPolicy(fileSource(policyFile));
    if (!loaded.ok) {
      for (const issue of loaded.errors) process.stderr.write(`${formatIssue(issue)}\n`);
      return 1;
    }
    policy = loaded.config;
  }
  const lines = explainCall({
    policy,
    policyFile,
    bootstrap,
    bootstrapFile: bootstrap === undefined ? undefined : values.config,
    backend: call.backend,
    method: call.method,
  });
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

async function proxy(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      listen: { type: 'string' },
      upstream: { type: 'string' },
      admin: { type: 'string' },
      'log-level': { type: 'string' },
      'no-access-log': { type: 'boolean' },
    },
    strict: true,
  });
  if (values.listen === undefined || values.upstream === undefined) {
    process.stderr.write('meshlet proxy: --listen HOST:PORT and --upstream HOST:PORT are required\n');
    return 2;
  }
  // Quick mode is an inbound listener whose "app" is the upstream: the same chain as a sidecar's inbound side.
  const yaml = JSON.stringify({
    service: { name: 'proxy' },
    inbound: { listen: values.listen, app: values.upstream },
    admin: { listen: values.admin ?? '127.0.0.1:0' },
    log: { level: values['log-level'] ?? 'info', accessLog: values['no-access-log'] !== true },
  });
  // Flags are the whole config in quick mode: MESHLET_* variables do not override them.
  const loaded = await loadBootstrap(staticSource('command line', yaml), {});
  if (!loaded.ok) {
    for (const issue of loaded.errors) process.stderr.write(`${formatIssue(issue)}\n`);
    return 2;
  }
  return serve(loaded.config);
}

async function serve(config: Parameters<typeof createApp>[0]): Promise<number> {
  const log = createLogger({ level: config.log.level });
  // A bug that escapes every handler must not die as an unstructured stack on stderr: log it as JSON (pino flushes
  // its buffer on exit) and exit non-zero, so the orchestrator restarts the sidecar. Node would exit anyway.
  const die = (what: string) => (err: unknown) => {
    log.fatal({ err }, `${what}: exiting (a meshlet bug; please report it)`);
    process.exit(70); // EX_SOFTWARE
  };
  process.on('uncaughtException', die('uncaught exception'));
  process.on('unhandledRejection', die('unhandled promise rejection'));
  let app: App;
  try {
    app = await createApp(config, { log });
    await app.start();
  } catch (err) {
    log.fatal({ err }, 'meshlet failed to start');
    flushLogger(log);
    return 1;
  }
  return waitForSignal(app, log);
}

function waitForSignal(app: App, log: Logger): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        flushLogger(log);
        resolve(1);
        return;
      }
      stopping = true;
      log.info({ signal }, 'shutting down');
      app.drain().then(
        () => {
          flushLogger(log);
          resolve(0);
        },
        (err: unknown) => {
          log.error({ err }, 'drain failed');
          flushLogger(log);
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`meshlet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
