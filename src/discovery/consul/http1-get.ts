// SPDX-License-Identifier: Apache-2.0
// A minimal HTTP/1.1 GET client for the Consul health reads, reading every socket into one reused buffer
// (net/tls `onread`, nodejs/node#25436 and #35753). node:http allocates a new buffer per socket read (~64 KiB,
// from malloc): a 10,000-instance answer is ~150 of them per read, which the allocator keeps as resident memory
// long after the reads (measured: ~15 MiB of RSS). Here each connection owns one buffer for its lifetime, and the
// body reaches the consumer as views into it that are valid only during the call. Keep-alive: an idle connection
// is reused; if a reused one fails before any byte of the answer, the request is sent once more on a new one.
// Used by client.ts; the response framing is parsed by createResponseParser (pure, below).

import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

/** What the caller hears of one response, in order: the head, body pieces, the end. Each may throw to abort. */
export interface ResponseSink {
  head(status: number, headers: Readonly<Record<string, string>>): void;
  /** A piece of the (de-chunked) body: a view into a reused buffer, valid only during this call. */
  body(piece: Buffer): void;
  end(): void;
}

/** Options of {@link createHttp1Pool}. */
export interface Http1PoolOptions {
  readonly secure: boolean;
  readonly host: string;
  readonly port: number;
  /** PEM CA bundle that verifies a TLS server. Default the Node.js trust store. */
  readonly ca?: string | Buffer;
  /** Size of each connection's read buffer, bytes. Default 65_536 (libuv's read size). */
  readonly readBufferBytes?: number;
  /** Idle connections kept for reuse. Default 4. */
  readonly maxIdle?: number;
}

/** Why a GET failed. `afterHead`: the response head had arrived (the body was cut short or refused by the sink). */
export class Http1Error extends Error {
  readonly code: string | undefined;
  readonly afterHead: boolean;
  constructor(message: string, options: { code?: string; afterHead?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'Http1Error';
    this.code = options.code;
    this.afterHead = options.afterHead ?? false;
  }
}

export interface Http1Pool {
  /**
   * GETs `path`: resolves once `sink.end()` returned; rejects with what `sink` threw, or an {@link Http1Error}
   * (transport failure, timeout, connection closed before the end). An aborted `signal` rejects with
   * `Http1Error('aborted', {code: 'ABORT_ERR'})`.
   */
  get(path: string, headers: Readonly<Record<string, string>>, sink: ResponseSink, options: { signal?: AbortSignal; timeoutMs: number }): Promise<void>;
  /** Closes the idle connections; later GETs open new ones. */
  close(): void;
}

interface Conn {
  readonly socket: Socket;
  /** The parser of the request in flight; undefined while idle. */
  onData: ((buf: Buffer, n: number) => void) | undefined;
  onGone: ((err: Error | undefined) => void) | undefined;
  dead: boolean;
}

export function createHttp1Pool(options: Http1PoolOptions): Http1Pool {
  const bufferBytes = options.readBufferBytes ?? 65_536;
  const maxIdle = options.maxIdle ?? 4;
  const idle: Conn[] = [];
  const hostHeader = options.port === (options.secure ? 443 : 80) ? options.host : `${options.host}:${options.port}`;
  const bareHost = options.host.replace(/^\[|\]$/g, '');

  const open = (): Conn => {
    const onread = {
      buffer: Buffer.allocUnsafe(bufferBytes),
      callback: (n: number, buf: Uint8Array): boolean => {
        conn.onData?.(buf as Buffer, n);
        return true;
      },
    };
    // tls.connect takes `onread` like net.connect (Node >= 14.17, nodejs/node#35753); @types/node omits it.
    const tlsOptions: ConnectionOptions & { onread: typeof onread } = {
      host: bareHost,
      port: options.port,
      onread,
      ...(!isIp(bareHost) && { servername: bareHost }),
      ...(options.ca !== undefined && { ca: options.ca }),
    };
    const socket = options.secure ? tlsConnect(tlsOptions) : netConnect({ host: bareHost, port: options.port, onread });
    const conn: Conn = { socket, onData: undefined, onGone: undefined, dead: false };
    const gone = (err: Error | undefined): void => {
      conn.dead = true;
      const i = idle.indexOf(conn);
      if (i >= 0) idle.splice(i, 1);
      const cb = conn.onGone;
      conn.onGone = undefined;
      cb?.(err);
    };
    socket.on('error', (err) => gone(err));
    socket.on('close', () => gone(undefined));
    socket.on('end', () => gone(undefined));
    return conn;
  };

  const attempt = (
    conn: Conn,
    requestHead: string,
    sink: ResponseSink,
    signal: AbortSignal | undefined,
    timeoutMs: number,
  ): Promise<'done' | 'retry'> =>
    new Promise((resolve, reject) => {
      const reused = conn.socket.bytesWritten > 0;
      let gotBytes = false;
      let settled = false;
      const finish = (err: Error | undefined, outcome: 'done' | 'retry' = 'done', keep = false): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        conn.onData = undefined;
        conn.onGone = undefined;
        if (keep && !conn.dead && idle.length < maxIdle) {
          // An idle connection must not keep the process alive (node:http's agent does the same).
          conn.socket.unref();
          idle.push(conn);
        } else conn.socket.destroy();
        if (err !== undefined) reject(err);
        else resolve(outcome);
      };
      const parser = createResponseParser({
        head: (status, h) => sink.head(status, h),
        body: (piece) => sink.body(piece),
      });
      const onAbort = (): void => finish(new Http1Error('aborted', { code: 'ABORT_ERR' }));
      const timer = setTimeout(() => finish(new Http1Error(`request timed out (${timeoutMs}ms)`, { code: 'ETIMEDOUT', afterHead: parser.headDone })), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      conn.onData = (buf, n) => {
        gotBytes = true;
        try {
          if (parser.push(buf, 0, n)) {
            sink.end();
            finish(undefined, 'done', parser.keepAlive);
          }
        } catch (err) {
          finish(err instanceof Error ? err : new Error(String(err)));
        }
      };
      conn.onGone = (err) => {
        if (!gotBytes && reused) {
          finish(undefined, 'retry');
          return;
        }
        try {
          if (parser.closed()) {
            sink.end();
            finish(undefined);
            return;
          }
        } catch (e) {
          finish(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        const code = (err as NodeJS.ErrnoException | undefined)?.code;
        const message = err === undefined ? 'connection closed' : code !== undefined && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
        finish(new Http1Error(message, { code, afterHead: parser.headDone, cause: err }));
      };
      if (conn.dead) {
        conn.onGone(undefined);
        return;
      }
      conn.socket.ref();
      conn.socket.write(requestHead);
    });

  return {
    async get(path, headers, sink, { signal, timeoutMs }) {
      if (signal?.aborted) throw new Http1Error('aborted', { code: 'ABORT_ERR' });
      // A CR or LF from config (a token) would split the request: refuse it, as node:http does.
      if (/[\r\n]/.test(path) || Object.entries(headers).some(([k, v]) => /[\r\n:]/.test(k) || /[\r\n]/.test(v))) {
        throw new Http1Error('invalid character in the request path or a header', { code: 'ERR_INVALID_CHAR' });
      }
      let head = `GET ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\n`;
      for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
      const requestHead = `${head}\r\n`;
      const reusedConn = idle.pop();
      if (reusedConn !== undefined && (await attempt(reusedConn, requestHead, sink, signal, timeoutMs)) === 'done') return;
      // A fresh connection (or the one retry after a reused one closed under us).
      await attempt(open(), requestHead, sink, signal, timeoutMs);
    },
    close() {
      for (const c of idle.splice(0)) c.socket.destroy();
    },
  };
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

/** Callbacks of {@link createResponseParser}. */
export interface ResponseParserSink {
  head(status: number, headers: Readonly<Record<string, string>>): void;
  body(piece: Buffer): void;
}

/** An HTTP/1.1 response reader (RFC 9112): status line, headers, then a body framed by chunked or Content-Length. */
export interface ResponseParser {
  /** Feeds bytes [from, to) of `buf`; true once the response is complete (bytes after it are ignored). */
  push(buf: Buffer, from: number, to: number): boolean;
  /** The connection closed: true if that ends the response (a body delimited by close); throws if the head was incomplete. */
  closed(): boolean;
  readonly headDone: boolean;
  /** The connection may carry another request after this response. */
  readonly keepAlive: boolean;
}

/** Largest response head accepted, bytes. */
const MAX_HEAD_BYTES = 65_536;
const CR = 0x0d;
const LF = 0x0a;

/**
 * Reads one response. States: 1. head: bytes gathered until the empty line, then parsed (status, lower-cased
 * headers; a 1xx head is skipped); 2. body by `Transfer-Encoding: chunked` (size line, data, CRLF ..., a 0 size,
 * trailers up to the empty line), else by `Content-Length`, else until the connection closes; 3. done.
 * Throws an {@link Http1Error} on a malformed head or chunk framing.
 */
export function createResponseParser(sink: ResponseParserSink): ResponseParser {
  let state: 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'close' | 'done' = 'head';
  let headBytes: Buffer[] = [];
  let headLen = 0;
  let remaining = 0;
  let line = '';
  let keepAlive = true;
  let headDone = false;

  const bad = (what: string): never => {
    throw new Http1Error(`malformed response: ${what}`, { afterHead: headDone });
  };

  const parseHead = (text: string): void => {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '');
    if (m === null) bad('no status line');
    const status = Number(m?.[2]);
    const headers: Record<string, string> = {};
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i] as string;
      if (l === '') continue;
      const colon = l.indexOf(':');
      if (colon <= 0) bad(`header line ${JSON.stringify(l.slice(0, 40))}`);
      const name = l.slice(0, colon).trim().toLowerCase();
      const value = l.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    if (status >= 100 && status < 200) return; // an interim answer; the real head follows
    headDone = true;
    const connection = (headers.connection ?? '').toLowerCase();
    keepAlive = m?.[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive');
    sink.head(status, headers);
    if ((headers['transfer-encoding'] ?? '').toLowerCase().includes('chunked')) state = 'chunk-size';
    else if (headers['content-length'] !== undefined) {
      if (!/^\d+$/.test(headers['content-length'])) bad('Content-Length');
      remaining = Number(headers['content-length']);
      state = remaining === 0 ? 'done' : 'length';
    } else {
      state = 'close';
      keepAlive = false;
    }
  };

  return {
    get headDone() {
      return headDone;
    },
    get keepAlive() {
      return keepAlive;
    },
    push(buf, from, to) {
      let i = from;
      while (i < to && state !== 'done') {
        if (state === 'head') {
          // The head ends at the first CRLFCRLF; gather it (it may span reads), then parse it as latin1.
          let end = -1;
          for (let k = i; k < to; k++) {
            if (buf[k] === LF && headLen + (k - i) >= 3) {
              const prev = (n: number): number | undefined => (k - n >= i ? buf[k - n] : lastHeadByte(headBytes, n - (k - i)));
              if (prev(1) === CR && prev(2) === LF && prev(3) === CR) {
                end = k + 1;
                break;
              }
            }
          }
          const stop = end < 0 ? to : end;
          headLen += stop - i;
          if (headLen > MAX_HEAD_BYTES) bad('head too large');
          headBytes.push(Buffer.from(buf.subarray(i, stop)));
          i = stop;
          if (end >= 0) {
            const text = Buffer.concat(headBytes).toString('latin1');
            headBytes = [];
            headLen = 0;
            parseHead(text.slice(0, -4));
          }
        } else if (state === 'length') {
          const n = Math.min(remaining, to - i);
          sink.body(buf.subarray(i, i + n));
          i += n;
          remaining -= n;
          if (remaining === 0) state = 'done';
        } else if (state === 'close') {
          sink.body(buf.subarray(i, to));
          i = to;
        } else if (state === 'chunk-data') {
          const n = Math.min(remaining, to - i);
          sink.body(buf.subarray(i, i + n));
          i += n;
          remaining -= n;
          if (remaining === 0) {
            state = 'chunk-crlf';
            line = '';
          }
        } else {
          // chunk-size, chunk-crlf, trailers: line by line.
          const c = buf[i] as number;
          i += 1;
          if (c !== LF) {
            if (line.length > 1024) bad('chunk line too long');
            line += String.fromCharCode(c);
            continue;
          }
          const text = line.endsWith('\r') ? line.slice(0, -1) : line;
          line = '';
          if (state === 'chunk-crlf') {
            if (text !== '') bad('no CRLF after chunk data');
            state = 'chunk-size';
          } else if (state === 'chunk-size') {
            const size = /^([0-9a-fA-F]{1,12})(?:;.*)?$/.exec(text.trim());
            if (size === null) bad(`chunk size ${JSON.stringify(text.slice(0, 20))}`);
            remaining = parseInt(size?.[1] as string, 16);
            state = remaining === 0 ? 'trailers' : 'chunk-data';
          } else if (text === '') {
            state = 'done';
          }
        }
      }
      return state === 'done';
    },
    closed() {
      if (state === 'close') {
        state = 'done';
        return true;
      }
      return state === 'done';
    },
  };
}

/** The byte `n` positions from the end of the gathered head pieces (1 = last), or undefined. */
function lastHeadByte(pieces: readonly Buffer[], n: number): number | undefined {
  for (let p = pieces.length - 1; p >= 0; p--) {
    const piece = pieces[p] as Buffer;
    if (n <= piece.length) return piece[piece.length - n];
    n -= piece.length;
  }
  return undefined;
}
