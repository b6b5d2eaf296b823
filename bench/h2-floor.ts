// SPDX-License-Identifier: Apache-2.0
// The bench's `h2-floor` path: the smallest correct gRPC relay on meshlet's own HTTP/2 engine (src/h2/), run
// as its own process. It is to the engine what node-floor (bench/node-floor.ts) is to node:http2: whatever it costs
// per call, a data plane on this engine pays at least that, so every bench run shows it next to node-floor.
//
// What it does, and nothing more:
// - one upstream H2Connection (client role), opened at start and waited on for the peer's SETTINGS (opened again
//   only once it can no longer take streams), TCP_NODELAY on both sides, the engine's default windows, which are
//   meshlet's (1 MiB per stream, 16 MiB per connection);
// - per downstream stream: one upstream request() with the request headers as received, the request DATA relayed
//   with back-pressure (write() false pauses the source, 'drain' resumes it), the response headers relayed,
//   Trailers-Only passed through as one HEADERS frame with END_STREAM (respond(h, true)), the response DATA relayed
//   with back-pressure, then the upstream's trailers (sendTrailers) once all of its DATA went out;
// - a downstream cancel resets the upstream stream (CANCEL); an upstream reset (or a lost upstream connection)
//   before the response headers becomes a Trailers-Only UNAVAILABLE, after them a RST_STREAM INTERNAL_ERROR (a
//   message may be cut in half: no trailers could make it whole); resets never crash it.
// Usage: node dist/bench/h2-floor.js --listen HOST:PORT --upstream HOST:PORT

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import net, { type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { hostPort, listenAndAnnounce } from './floor-cli.js';
import { H2Connection } from '../src/h2/connection.js';
import { ErrorCode, Flags } from '../src/h2/frame.js';
import type { H2Stream } from '../src/h2/stream.js';

/** Receive windows, as meshlet's listener and session pool advertise them (also the engine's defaults). */
const STREAM_WINDOW_BYTES = 1 << 20;
const CONNECTION_WINDOW_BYTES = 16 << 20;

/** Trailers-Only answer when the upstream cannot take or finish the call before its response headers. */
const UNAVAILABLE: OutgoingHttpHeaders = {
  ':status': 200,
  'content-type': 'application/grpc',
  'grpc-status': '14',
  'grpc-message': 'h2-floor: upstream reset',
};
/** Trailers for a response the upstream ended with END_STREAM on DATA, i.e. without a grpc-status. */
const MISSING_TRAILERS: OutgoingHttpHeaders = { 'grpc-status': '14', 'grpc-message': 'h2-floor: upstream sent no trailers' };

/** Splits `host:port` (IPv4 or a name; the bench only uses 127.0.0.1). */

/** The single upstream connection; replaced only once it can no longer open streams. */
class Upstream {
  private conn: H2Connection | undefined;

  constructor(private readonly address: string) {}

  /** Connects and resolves once the peer's SETTINGS arrived; rejects when the connection closes first. */
  ready(): Promise<void> {
    const conn = this.get();
    return new Promise((resolve, reject) => {
      conn.once('remoteSettings', () => resolve());
      conn.once('close', () => reject(conn.closeError ?? new Error(`upstream ${this.address} closed during connect`)));
    });
  }

  get(): H2Connection {
    const current = this.conn;
    if (current !== undefined && !current.destroyed && !current.closing && !current.goawayReceived) return current;
    const { host, port } = hostPort(this.address);
    const conn = new H2Connection(net.connect({ host, port, noDelay: true }), {
      role: 'client',
      streamWindowBytes: STREAM_WINDOW_BYTES,
      connectionWindowBytes: CONNECTION_WINDOW_BYTES,
    });
    this.conn = conn;
    return conn;
  }
}

/** Relays one call; all state lives in this closure scope. */
function relay(down: H2Stream, headers: IncomingHttpHeaders, upstream: Upstream): void {
  let up: H2Stream;
  try {
    up = upstream.get().request(headers);
  } catch {
    down.respond(UNAVAILABLE, true);
    return;
  }
  let trailers: OutgoingHttpHeaders | undefined;
  const resumeDown = (): void => {
    down.resume();
  };
  const resumeUp = (): void => {
    up.resume();
  };

  // Request: downstream → upstream.
  down.on('data', (chunk: Buffer) => {
    if (!up.write(chunk)) {
      down.pause();
      up.once('drain', resumeDown);
    }
  });
  down.on('end', () => {
    up.end();
  });
  down.on('close', () => {
    // Normal end: the upstream stream closed before the response could complete. Otherwise a cancel or a reset.
    if (!up.closed) up.close(ErrorCode.CANCEL);
  });

  // Response: upstream → downstream.
  up.on('response', (h: IncomingHttpHeaders, flags: number) => {
    down.respond(h as OutgoingHttpHeaders, (flags & Flags.END_STREAM) !== 0);
  });
  up.on('data', (chunk: Buffer) => {
    if (!down.write(chunk)) {
      up.pause();
      down.once('drain', resumeUp);
    }
  });
  // 'trailers' comes before the DATA still held while paused: they go out at 'end', after that DATA.
  up.on('trailers', (t: IncomingHttpHeaders) => {
    trailers = t as OutgoingHttpHeaders;
  });
  up.on('end', () => {
    // After Trailers-Only the downstream side has ended already, and sendTrailers() does nothing.
    down.sendTrailers(trailers ?? MISSING_TRAILERS);
  });
  up.on('close', () => {
    // Closed with the whole response in ('end' came or is still to come with the held DATA): nothing to do.
    if (up.remoteEnded || down.closed) return;
    if (!down.headersSeen) down.respond(UNAVAILABLE, true);
    else down.close(ErrorCode.INTERNAL_ERROR);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      listen: { type: 'string' },
      upstream: { type: 'string' },
    },
    strict: true,
  });
  if (values.listen === undefined || values.upstream === undefined) {
    throw new Error('usage: h2-floor --listen HOST:PORT --upstream HOST:PORT');
  }
  const upstream = new Upstream(values.upstream);
  await upstream.ready();

  const server = net.createServer({ noDelay: true }, (socket: Socket) => {
    const conn = new H2Connection(socket, {
      role: 'server',
      streamWindowBytes: STREAM_WINDOW_BYTES,
      connectionWindowBytes: CONNECTION_WINDOW_BYTES,
    });
    conn.on('stream', (stream: H2Stream, headers: IncomingHttpHeaders) => relay(stream, headers, upstream));
  });
  await listenAndAnnounce(server, values.listen, 'h2-floor', values.upstream);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
