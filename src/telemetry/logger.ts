// SPDX-License-Identifier: Apache-2.0
// The process logger: pino JSON to stdout (asynchronous writes, flushed on exit), with secrets redacted.
// Components take `logger.child({ component })`; nothing logs through console.

import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  readonly level: LevelWithSilent;
  /** Where to write; default stdout (fd 1). Tests pass a stream to capture lines. */
  readonly destination?: NodeJS.WritableStream;
  /** Synchronous writes (tests, CLI one-shots); default false: the data path never blocks on stdout. */
  readonly sync?: boolean;
}

/** Keys never written in clear: credentials in headers and config. */
const REDACT_PATHS = [
  'authorization',
  'cookie',
  '*.authorization',
  '*.cookie',
  '*["set-cookie"]',
  '*.token',
  '*.password',
  '*.privateKey',
  'config.consul.token',
];

export function createLogger(opts: LoggerOptions): Logger {
  const destination = opts.destination ?? pino.destination({ dest: 1, sync: opts.sync ?? false, minLength: 0 });
  return pino(
    {
      level: opts.level,
      base: { svc: 'meshlet' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** Flushes buffered log lines; call before exiting. */
export function flushLogger(log: Logger): void {
  try {
    log.flush();
  } catch {
    // A closed destination has nothing to flush.
  }
}
