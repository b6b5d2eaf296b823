// SPDX-License-Identifier: Apache-2.0
// The bench's `node-floor` path: the smallest correct gRPC relay on node:http2, run as its own process. Whatever it
// costs per call, any node:http2 data plane (meshlet included) pays at least that, so every bench run shows it.
//
// What it does, and nothing more:
// - one upstream ClientHttp2Session, opened at start (and again only if it closes), TCP_NODELAY on both sides;
// - per downstream stream: one upstream `session.request(headers)` with the request headers as received, the
//   request DATA relayed with back-pressure, the response headers relayed, Trailers-Only passed through as one
//   HEADERS frame with END_STREAM, the response DATA relayed with back-pressure, then the upstream's trailers;
// - a downstream cancel resets the upstream stream (CANCEL); an upstream reset before the response becomes a
//   Trailers-Only UNAVAILABLE, after it the trailers carry UNAVAILABLE; resets and destroyed streams never crash it.
// The same windows as meshlet (1 MiB per stream, 16 MiB per connection), so the large-message scenario compares
// like with like, and the Node 20 AsyncResource#bind workaround (bench/node20-bind.ts; meshlet used it while it ran on node:http2), so the
// floor is what node:http2 costs at best; `--stock-bind` measures node:http2 exactly as Node 20 ships it.
// Usage: node dist/bench/node-floor.js --listen HOST:PORT --upstream HOST:PORT [--max-frame-size N] [--stock-bind]

import { installLeanAsyncResourceBind } from './node20-bind.js';
import http2, {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import net, { type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { hostPort, listenAndAnnounce } from './floor-cli.js';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** Receive windows, as meshlet's listener and session pool advertise them. */
const STREAM_WINDOW_BYTES = 1 << 20;
const CONNECTION_WINDOW_BYTES = 16 << 20;

/** Splits `host:port` (IPv4 or a name; the bench only uses 127.0.0.1). */

const UNAVAILABLE_TRAILERS: OutgoingHttpHeaders = { 'grpc-status': '14', 'grpc-message': 'node-floor: upstream reset' };

function noop(): void {}

/** The single upstream session; replaced only when it has closed. */
class Upstream {
  private session: ClientHttp2Session | undefined;

  constructor(
    private readonly address: string,
    private readonly settings: http2.Settings,
  ) {}

  /** Connects and resolves once the peer's SETTINGS arrived (streams opened earlier can be refused). */
  ready(): Promise<void> {
    const session = this.get();
    return new Promise((resolve, reject) => {
      session.once('remoteSettings', () => resolve());
      session.once('close', () => reject(new Error(`upstream ${this.address} closed during connect`)));
    });
  }

  get(): ClientHttp2Session {
    const current = this.session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const { host, port } = hostPort(this.address);
    const session = http2.connect(`http://${this.address}`, {
      settings: this.settings,
      maxSessionMemory: 64,
      createConnection: () => net.connect({ host, port, noDelay: true }),
    });
    session.on('error', noop);
    session.once('connect', () => session.setLocalWindowSize(CONNECTION_WINDOW_BYTES));
    session.once('close', () => {
      if (this.session === session) this.session = undefined;
    });
    this.session = session;
    return session;
  }
}

/** Relays one call; all state lives in this closure scope. */
function relay(down: ServerHttp2Stream, headers: IncomingHttpHeaders, upstream: Upstream): void {
  down.on('error', noop);
  let up: ClientHttp2Stream;
  try {
    up = upstream.get().request(headers as OutgoingHttpHeaders);
  } catch {
    if (!down.destroyed) down.respond({ ':status': 200, 'content-type': 'application/grpc', ...UNAVAILABLE_TRAILERS }, { endStream: true });
    return;
  }
  let responded = false;
  let finished = false; // the upstream response ended (trailers or Trailers-Only): nothing left to cancel
  let trailers: OutgoingHttpHeaders | undefined;
  up.on('error', noop);

  // Request: downstream → upstream.
  down.on('data', (chunk: Buffer) => {
    if (!up.write(chunk)) {
      down.pause();
      up.once('drain', () => down.resume());
    }
  });
  down.on('end', () => {
    if (!up.destroyed) up.end();
  });
  down.on('close', () => {
    if (!finished && !up.destroyed) up.close(NGHTTP2_CANCEL);
  });

  // Response: upstream → downstream.
  up.on('response', (h: IncomingHttpHeaders, flags: number) => {
    if (down.destroyed || down.closed) return;
    responded = true;
    if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
      finished = true;
      down.respond(h as OutgoingHttpHeaders, { endStream: true });
      return;
    }
    down.respond(h as OutgoingHttpHeaders, { waitForTrailers: true });
    down.on('wantTrailers', () => down.sendTrailers(trailers ?? UNAVAILABLE_TRAILERS));
  });
  up.on('data', (chunk: Buffer) => {
    if (down.destroyed) return;
    if (!down.write(chunk)) {
      up.pause();
      down.once('drain', () => up.resume());
    }
  });
  up.on('trailers', (t: IncomingHttpHeaders) => {
    trailers = t as OutgoingHttpHeaders;
  });
  up.on('end', () => {
    if (trailers !== undefined) finished = true;
    if (!down.destroyed && !down.writableEnded) down.end();
  });
  up.on('close', () => {
    finished = true;
    if (down.destroyed || down.closed) return;
    if (!responded) {
      down.respond({ ':status': 200, 'content-type': 'application/grpc', ...UNAVAILABLE_TRAILERS }, { endStream: true });
    } else if (!down.writableEnded) {
      down.end(); // trailers (UNAVAILABLE unless the upstream's arrived) follow via wantTrailers
    }
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      listen: { type: 'string' },
      upstream: { type: 'string' },
      'max-frame-size': { type: 'string' },
      'stock-bind': { type: 'boolean' },
    },
    strict: true,
  });
  if (values.listen === undefined || values.upstream === undefined) {
    throw new Error('usage: node-floor --listen HOST:PORT --upstream HOST:PORT [--max-frame-size BYTES] [--stock-bind]');
  }
  if (values['stock-bind'] !== true) installLeanAsyncResourceBind();
  const settings: http2.Settings = { enablePush: false, initialWindowSize: STREAM_WINDOW_BYTES };
  if (values['max-frame-size'] !== undefined) settings.maxFrameSize = Number(values['max-frame-size']);

  const upstream = new Upstream(values.upstream, settings);
  await upstream.ready();

  const server = http2.createServer({ settings, maxSessionMemory: 64 });
  server.on('connection', (socket: Socket) => socket.setNoDelay(true));
  server.on('session', (session) => {
    session.on('error', noop);
    session.once('connect', () => session.setLocalWindowSize(CONNECTION_WINDOW_BYTES));
  });
  server.on('sessionError', noop);
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => relay(stream, headers, upstream));
  await listenAndAnnounce(server, values.listen, 'node-floor', values.upstream);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
