// SPDX-License-Identifier: Apache-2.0
// pino JSON logger for the example services: one line per event, level as a word, bound to the service name.

import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * A logger writing JSON lines to stdout with `service` bound.
 * @param level default `LOG_LEVEL` env or `info`.
 */
export function createLogger(service: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service },
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** A logger that writes nothing (tests, embedding). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
