// SPDX-License-Identifier: Apache-2.0
// Sidecars and clients that close themselves after the current test (useCleanup), and a port nothing listens on:
// the setup most integration tests share.

import net from 'node:net';
import { useCleanup } from './cleanup.js';
import { echoClient, type EchoClient } from './echo.js';
import { startSidecar, type Sidecar } from './sidecar.js';

export interface Scoped {
  /** Runs `fn` after the current test (newest first). */
  readonly defer: (fn: () => unknown) => void;
  /** A sidecar (startSidecar) closed after the current test. */
  sidecar(input: Parameters<typeof startSidecar>[0], options?: Parameters<typeof startSidecar>[1]): Promise<Sidecar>;
  /** An echo client closed after the current test; `authority` sets :authority. */
  client(address: string, authority?: string): EchoClient;
}

/** Registers the cleanup hook in the calling test file. `defaults` apply to every sidecar it starts. */
export function useScoped(defaults: Parameters<typeof startSidecar>[1] = {}): Scoped {
  const defer = useCleanup();
  return {
    defer,
    async sidecar(input, options = {}) {
      const s = await startSidecar(input, { ...defaults, ...options });
      defer(() => s.close());
      return s;
    },
    client(address, authority) {
      const c = echoClient(address, authority);
      defer(() => c.close());
      return c;
    },
  };
}

/** A loopback port nothing listens on: bind port 0, read the port, close. */
export async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}
