// SPDX-License-Identifier: Apache-2.0
// The demo's port check: a port something listens on is reported with its role; a free one is not.

import { createServer, type Server } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { isPortFree, takenPorts } from '../../../../examples/demo/ports.js';

let held: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (held ? held.close(() => resolve()) : resolve()));
  held = undefined;
});

async function holdPort(): Promise<number> {
  held = createServer();
  const server = held;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('demo port check', () => {
  it('reports a port something listens on as taken, with its role', async () => {
    const port = await holdPort();
    expect(await isPortFree(port)).toBe(false);
    expect(await takenPorts({ app: port }, { app: 'the app' })).toEqual([['the app', port]]);
  });

  it('reports the port free again once it is released, and leaves it free', async () => {
    const port = await holdPort();
    await new Promise<void>((resolve) => held!.close(() => resolve()));
    held = undefined;
    expect(await isPortFree(port)).toBe(true);
    expect(await isPortFree(port)).toBe(true); // the probe closed its own socket
    expect(await takenPorts({ app: port }, { app: 'the app' })).toEqual([]);
  });
});
