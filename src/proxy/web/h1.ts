// SPDX-License-Identifier: Apache-2.0
// HTTP/1.1 connections of a gRPC-Web listener, parsed by node's own `http` server (never listening: the listener
// hands it sockets with `emit('connection')` after sniffing, see ../sniff.ts). Each request becomes a WebExchange.

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { WebExchange } from './exchange.js';

/** Node's HTTP/1.1 parser behind a gRPC-Web listener. */
export interface Http1Front {
  /** Serves HTTP/1.1 on `socket` (its sniffed bytes already unshifted); `tag` is kept for `tagOf`. */
  accept(socket: Socket, tag?: unknown): void;
  /** The tag given with the socket of a request (the peer's identity for TLS sockets). */
  tagOf(socket: Socket): unknown;
  /** Closes idle keep-alive connections now and every other one once its response ended. */
  closeIdle(): void;
  /** Destroys every connection. */
  destroyAll(): void;
}

/** Options of the HTTP/1.1 front. */
export interface Http1FrontOptions {
  /** Called for each request. */
  readonly onExchange: (ex: WebExchange, socket: Socket) => void;
  /** Request headers budget, bytes; default 64 KiB (as the HTTP/2 side's SETTINGS_MAX_HEADER_LIST_SIZE). */
  readonly maxHeaderBytes?: number;
  /** Keep-alive idle timeout, ms; default 60000. */
  readonly keepAliveTimeoutMs?: number;
}

/** Creates the front. */
export function createHttp1Front(opts: Http1FrontOptions): Http1Front {
  const tags = new WeakMap<Socket, unknown>();
  const sockets = new Set<Socket>();
  let closing = false;
  const server = http.createServer(
    { maxHeaderSize: opts.maxHeaderBytes ?? 64 * 1024, keepAliveTimeout: opts.keepAliveTimeoutMs ?? 60_000, noDelay: true },
    (req: IncomingMessage, res: ServerResponse) => {
      if (closing) res.shouldKeepAlive = false;
      opts.onExchange(exchangeOf(req, res), req.socket);
    },
  );
  // node tracks connections (closeIdleConnections, and the headersTimeout / requestTimeout checks that answer a
  // slow client 408) from the server's 'listening' event; this server never listens, so it is told it does.
  server.emit('listening');
  // A client speaking garbage gets node's 400 and the connection closes; nothing reaches the adapter.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable && err.code !== 'ECONNRESET') socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  return {
    accept(socket, tag) {
      if (tag !== undefined) tags.set(socket, tag);
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      server.emit('connection', socket);
    },
    tagOf: (socket) => tags.get(socket),
    closeIdle() {
      closing = true;
      server.closeIdleConnections();
    },
    destroyAll() {
      for (const s of sockets) s.destroy();
      server.close(); // stops the connection checks' interval timer
    },
  };
}

function exchangeOf(req: IncomingMessage, res: ServerResponse): WebExchange {
  let closeListener: ((finished: boolean) => void) | undefined;
  let closed = false;
  res.once('close', () => {
    closed = true;
    closeListener?.(res.writableFinished);
  });
  return {
    protocol: 'http/1.1',
    method: req.method ?? '',
    path: req.url ?? '',
    authority: req.headers.host ?? '',
    headers: req.headers,
    body: req,
    respond(status, headers, endStream) {
      // Node sets chunked transfer-encoding for a body of unknown length; flush so streams start at once.
      res.writeHead(status, headers as http.OutgoingHttpHeaders);
      if (endStream === true) res.end();
      else res.flushHeaders();
    },
    write: (chunk) => res.write(chunk),
    onceDrain: (l) => void res.once('drain', l),
    end: () => void res.end(),
    get done() {
      return closed || res.writableEnded;
    },
    onClose(l) {
      if (closed) l(res.writableFinished);
      else closeListener = l;
    },
  };
}
