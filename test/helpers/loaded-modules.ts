// SPDX-License-Identifier: Apache-2.0
// Which files a child node process loaded: a preload (`--import`, see traceArgs) that hears every ESM resolve
// through a node:module register() hook and every CommonJS load through Module._load, and writes the list to a
// file when the process exits. For test/architecture/lazy-modules.test.ts.

import { readFileSync } from 'node:fs';

/** Runs in the loader hooks thread: posts every resolved URL to the main thread. */
const HOOKS = `
let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  port.postMessage(result.url);
  return result;
}`;

/** Runs first in the child: registers HOOKS, patches Module._load, writes what it saw at exit. */
const PRELOAD = `
import Module, { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const seen = new Set();
const { port1, port2 } = new MessageChannel();
port1.on('message', (url) => seen.add(url));
port1.unref();
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOKS)}), { data: { port: port2 }, transferList: [port2] });
const load = Module._load;
Module._load = function (request, parent, isMain) {
  try { seen.add(pathToFileURL(Module._resolveFilename(request, parent, isMain)).href); } catch {}
  return load.apply(this, arguments);
};
process.on('exit', () => writeFileSync(process.env.MESHLET_LOADED_MODULES_FILE, JSON.stringify([...seen])));`;

/** Node arguments that make a child write the URLs of every module it loaded to `file` when it exits. */
export function traceArgs(): string[] {
  return ['--import', `data:text/javascript,${encodeURIComponent(PRELOAD)}`];
}

/** The env variable naming the file traceArgs() writes. */
export const TRACE_FILE_ENV = 'MESHLET_LOADED_MODULES_FILE';

/** The loaded files of a traced child, as `package/path/in/package` for files under node_modules (else their URL). */
export function readTrace(file: string): string[] {
  const urls = JSON.parse(readFileSync(file, 'utf8')) as string[];
  return [...new Set(urls.map((u) => (u.includes('/node_modules/') ? u.slice(u.lastIndexOf('/node_modules/') + '/node_modules/'.length) : u)))].sort();
}

/** The package of a readTrace() entry (`@scope/name` or `name`), or undefined for a file outside node_modules. */
export function packageOf(entry: string): string | undefined {
  if (entry.includes(':')) return undefined;
  const parts = entry.split('/');
  return entry.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}
