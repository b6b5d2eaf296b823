// SPDX-License-Identifier: Apache-2.0
// GET /log-level shows the level; PUT /log-level changes it at runtime (body `{"level":"debug"}`, a bare `debug`,
// or `?level=debug`). Child loggers follow: pino children inherit the root's level unless given their own.

import type { Logger } from '../../telemetry/logger.js';
import type { AdminServer } from '../server.js';
import { mutation } from './guard.js';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** The level asked for by a PUT: from the query, a JSON body `{level}`, or the bare body text. */
export function requestedLevel(url: string | undefined, body: string): string | undefined {
  const query = new URL(url ?? '/', 'http://admin').searchParams.get('level');
  if (query !== null) return query.trim();
  const text = body.trim();
  if (text.startsWith('{')) {
    try {
      const level = (JSON.parse(text) as { level?: unknown }).level;
      return typeof level === 'string' ? level.trim() : undefined;
    } catch {
      return undefined;
    }
  }
  return text === '' ? undefined : text;
}

export function addLogLevelRoutes(admin: AdminServer, log: Logger, allowRemoteMutations: boolean): void {
  admin.route('GET', '/log-level', () => ({ status: 200, body: { level: log.level } }));
  admin.route(
    'PUT',
    '/log-level',
    mutation((req, body) => {
      const level = requestedLevel(req.url, body);
      if (level === undefined || !(LOG_LEVELS as readonly string[]).includes(level)) {
        return { status: 400, body: { error: `expected a level: one of ${LOG_LEVELS.join(', ')}`, got: level ?? null } };
      }
      const previous = log.level;
      log.level = level;
      // Logged at the level that is sure to be on when raising verbosity, and after the change.
      log.warn({ previous, level }, 'log level changed through the admin API');
      return { status: 200, body: { level, previous } };
    }, allowRemoteMutations),
  );
}
