// SPDX-License-Identifier: Apache-2.0
// Serves the built gRPC-Web demo page (dist/examples/web/page: index.html and the esbuild bundle app.js) on its own
// origin. Static files only, from a fixed list: nothing else on disk is reachable.

import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The built page, next to this compiled module (dist/examples/web/page). */
export const PAGE_DIR = fileURLToPath(new URL('./page/', import.meta.url));

const FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
};

export interface PageServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Listens on `host:port` (0 = any free port) and serves the page from `dir`. */
export function startPageServer(host: string, port: number, dir: string = PAGE_DIR): Promise<PageServer> {
  const server = http.createServer((req, res) => {
    const entry = FILES[new URL(req.url ?? '/', 'http://x').pathname];
    if (req.method !== 'GET' || entry === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    readFile(new URL(entry.file, `file://${dir}`)).then(
      (body) => res.writeHead(200, { 'content-type': entry.type, 'cache-control': 'no-store' }).end(body),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot read ${entry.file}: ${err.message} (run npm run build)\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve({
        address: server.address() as AddressInfo,
        close: () => new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
      });
    });
  });
}
