// SPDX-License-Identifier: Apache-2.0
// `meshlet injector`: load the settings, start the HTTPS webhook and its admin server (/live /ready /metrics),
// serve until SIGTERM/SIGINT. main.ts dispatches here on demand; this module never exits the process, it resolves
// with the exit code.

import { parseArgs } from 'node:util';
import { AdminServer } from '../admin/server.js';
import { formatIssue } from '../config/errors.js';
import { loadDocument } from '../config/load.js';
import { fileSource, staticSource } from '../config/source.js';
import { createLogger, flushLogger } from '../telemetry/logger.js';
import { createInjectorMetrics } from '../telemetry/metrics.js';
import { injectorSettingsSchema, type InjectorSettings } from './settings.js';
import { INJECTOR_USAGE } from './usage.js';
import { startWebhook, type Webhook } from './webhook.js';

/** Loads the injector settings file through the one config pipeline; issues are file:line:column: path: message. */
export async function loadInjectorSettings(file: string | undefined): Promise<{ ok: true; settings: InjectorSettings } | { ok: false; errors: string[] }> {
  const source = file === undefined ? staticSource('(defaults)', '{}') : fileSource(file);
  const loaded = await loadDocument(source, {
    schema: injectorSettingsSchema,
    emptyMessage: 'the document is empty; write {} for every default',
  });
  return loaded.ok ? { ok: true, settings: loaded.config } : { ok: false, errors: loaded.errors.map(formatIssue) };
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Runs `meshlet injector <args>`; resolves with the exit code: 0 after SIGTERM/SIGINT, 1 failed to start, 2 usage. */
export async function injectorCommand(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        listen: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        config: { type: 'string' },
        admin: { type: 'string' },
        'log-level': { type: 'string' },
      },
      strict: true,
    }) as { values: Record<string, string | undefined> });
  } catch (err) {
    process.stderr.write(`meshlet injector: ${(err as Error).message}\n\nUsage:\n${INJECTOR_USAGE}\n`);
    return 2;
  }
  const { listen, 'tls-cert': certFile, 'tls-key': keyFile } = values;
  if (listen === undefined || certFile === undefined || keyFile === undefined) {
    process.stderr.write(`meshlet injector: --listen, --tls-cert and --tls-key are required\n\nUsage:\n${INJECTOR_USAGE}\n`);
    return 2;
  }
  const level = values['log-level'] ?? env['MESHLET_LOG_LEVEL'] ?? 'info';
  if (!LOG_LEVELS.includes(level)) {
    process.stderr.write(`meshlet injector: --log-level "${level}": expected one of ${LOG_LEVELS.join(', ')}\n`);
    return 2;
  }
  const loaded = await loadInjectorSettings(values['config']);
  if (!loaded.ok) {
    for (const line of loaded.errors) process.stderr.write(`${line}\n`);
    process.stderr.write(`meshlet injector: ${values['config'] ?? 'the settings'} is invalid; nothing started\n`);
    return 1;
  }
  const log = createLogger({ level: level as 'info' }).child({ component: 'injector' });
  const metrics = createInjectorMetrics();
  const admin = new AdminServer(values['admin'] ?? '127.0.0.1:6192');
  let webhook: Webhook | undefined;
  admin.addHealthRoutes([() => (webhook === undefined ? 'the webhook is not listening yet' : undefined)]);
  admin.route('GET', '/metrics', async () => {
    const { contentType, body } = await metrics.scrape();
    return { status: 200, body, contentType };
  });
  try {
    const adminAddress = await admin.start();
    webhook = await startWebhook({ listen, certFile, keyFile, settings: loaded.settings, log, metrics });
    log.info({ webhook: webhook.address, admin: adminAddress, mode: loaded.settings.mode, image: loaded.settings.image }, 'injector listening');
    process.stderr.write(`meshlet injector: webhook https://${listen.replace(/:\d+$/, '')}:${webhook.address.port} admin port ${adminAddress.port}\n`);
  } catch (err) {
    log.fatal({ err }, 'injector failed to start');
    flushLogger(log);
    await admin.close();
    process.stderr.write(`meshlet injector: failed to start: ${(err as Error).message}\n`);
    return 1;
  }
  const running = webhook;
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'injector shutting down');
      void Promise.all([running.close(), admin.close()]).then(() => {
        flushLogger(log);
        resolve(0);
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
