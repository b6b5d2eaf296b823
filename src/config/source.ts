// SPDX-License-Identifier: Apache-2.0
// Config sources: where config text comes from (a file, a string, an env var), so loaders and tests never touch
// the real filesystem or environment unless asked to.

import { readFile } from 'node:fs/promises';

/** Something that yields config text. `name` is what issues report as their `file`. */
export interface ConfigSource {
  readonly name: string;
  /** Resolves to the whole text; rejects when it cannot be read. May be called more than once. */
  read(): Promise<string>;
}

/** The environment as loaders see it; `process.env` in production, a plain object in tests. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Reads `path` as UTF-8 on every `read()`; the name is the path as given. */
export function fileSource(path: string): ConfigSource {
  return { name: path, read: () => readFile(path, 'utf8') };
}

/** A fixed text, e.g. a test document. */
export function staticSource(name: string, text: string): ConfigSource {
  return { name, read: () => Promise.resolve(text) };
}

/** The value of env var `variable` (e.g. a whole config passed by an orchestrator); rejects when unset. */
export function envSource(variable: string, env: Env = process.env): ConfigSource {
  return {
    name: variable,
    read: () => {
      const text = env[variable];
      return text === undefined ? Promise.reject(new Error(`${variable} is not set`)) : Promise.resolve(text);
    },
  };
}
