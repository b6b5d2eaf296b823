// SPDX-License-Identifier: Apache-2.0
// A child of bench/module-rss.ts: imports the specifiers it is given (package names, node: built-ins, or paths
// relative to this file), in order, then reports its settled RSS (bench/settled-rss.ts) over the IPC channel.
// Loaded with --import into `meshlet proxy` (no arguments), it instead waits for the driver's 'measure' message.

import { settledRss } from './settled-rss.js';

/** Sends the settled reading (or what failed) to the driver; `done` runs once it is sent. */
function report(done: () => void): void {
  settledRss().then(
    (reading) => process.send?.({ ...reading }, done),
    (err: unknown) => process.send?.({ error: err instanceof Error ? err.message : String(err) }, done),
  );
}

const specifiers = process.argv.slice(2);
if (process.send === undefined) throw new Error('module-rss-child: start me with an IPC channel (bench/module-rss.ts)');
if (/module-rss-child\.[jt]s$/.test(process.argv[1] ?? '')) {
  for (const specifier of specifiers) await import(specifier);
  report(() => process.disconnect());
} else {
  const onMessage = (message: unknown): void => {
    if (message !== 'measure') return;
    process.off('message', onMessage);
    report(() => undefined);
  };
  process.on('message', onMessage);
  process.channel?.unref();
}
