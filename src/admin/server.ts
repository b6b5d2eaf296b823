// SPDX-License-Identifier: Apache-2.0
// The admin HTTP server: loopback by default, its own port. /live, /ready, /config now; later features register
// their endpoints with `route()` (metrics, clusters, log level, drain). Mutating routes must use POST or PUT.

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { splitHostPort } from '../net/address.js';

export interface AdminResponse {
  readonly status: number;
  readonly body: string | object;
  readonly contentType?: string;
}

export type AdminRoute = (req: IncomingMessage, body: string) => AdminResponse | Promise<AdminResponse>;

export interface ReadinessCheck {
  /** Returns undefined when ready, else why not (shown in /ready's body). */
  (): string | undefined;
}

export class AdminServer {
  private readonly server: http.Server;
  private readonly routes = new Map<string, AdminRoute>();

  constructor(private readonly listen: string) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  /** Registers `METHOD /path`. A path registered for another method answers 405. */
  route(method: 'GET' | 'POST' | 'PUT', path: string, handler: AdminRoute): void {
    this.routes.set(`${method} ${path}`, handler);
  }

  /** /live always 200 while the process serves; /ready 200 only when every check passes. */
  addHealthRoutes(checks: ReadinessCheck[]): void {
    this.route('GET', '/live', () => ({ status: 200, body: 'live\n', contentType: 'text/plain' }));
    this.route('GET', '/ready', () => {
      const reasons = checks.map((c) => c()).filter((r): r is string => r !== undefined);
      return reasons.length === 0
        ? { status: 200, body: 'ready\n', contentType: 'text/plain' }
        : { status: 503, body: { ready: false, reasons } };
    });
  }

  start(): Promise<AddressInfo> {
    const { host, port } = splitHostPort(this.listen);
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.removeListener('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  get address(): AddressInfo | undefined {
    return (this.server.address() as AddressInfo | null) ?? undefined;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] as string;
    const handler = this.routes.get(`${req.method} ${path}`);
    if (handler === undefined) {
      const other = [...this.routes.keys()].some((k) => k.endsWith(` ${path}`));
      send(res, other ? { status: 405, body: { error: `method ${req.method} not allowed on ${path}` } } : { status: 404, body: { error: `no admin endpoint ${path}` } });
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    for await (const chunk of req) {
      body += chunk as string;
      if (body.length > 1 << 20) {
        send(res, { status: 413, body: { error: 'request body over 1 MiB' } });
        return;
      }
    }
    try {
      send(res, await handler(req, body));
    } catch (err) {
      send(res, { status: 500, body: { error: err instanceof Error ? err.message : String(err) } });
    }
  }
}

function send(res: ServerResponse, r: AdminResponse): void {
  const isText = typeof r.body === 'string';
  res.writeHead(r.status, { 'content-type': r.contentType ?? (isText ? 'text/plain; charset=utf-8' : 'application/json') });
  res.end(isText ? r.body : `${JSON.stringify(r.body, null, 2)}\n`);
}
