// SPDX-License-Identifier: Apache-2.0
// The mTLS suite's handshake load generator, run as its own process (its CPU is reported apart from the server's):
// opens mTLS connections (node:tls, ALPN h2, a client certificate, no session resumption) with bounded concurrency
// for a bounded time, and prints one JSON result line. Each connection counts once the server has sent its first
// HTTP/2 bytes after the client's preface: only then has the server finished the handshake and accepted the
// client's certificate (in TLS 1.3 the client's certificate arrives after the client considers itself connected).

import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { type HandshakeLoadArgs, type HandshakeLoadResult, RESULT_PREFIX } from './handshake.js';

/** The HTTP/2 client connection preface and an empty SETTINGS frame (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
  Buffer.from([0, 0, 0, 0x04, 0, 0, 0, 0, 0]),
]);

function nearestRank(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number);
}

/** Protocol and key exchange of the first successful connection (`TLSv1.3 X25519`). */
let negotiated: string | undefined;

/** One mTLS connection: resolves with its duration in ms once the server's first bytes arrive; then closes it. */
function connectOnce(a: HandshakeLoadArgs, secure: tls.SecureContext, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    // No `session` option and a fresh socket each time: every connection is a full handshake.
    const socket = tls.connect({
      host: '127.0.0.1',
      port: a.port,
      servername: a.servername,
      secureContext: secure,
      ALPNProtocols: ['h2'],
    });
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`no server bytes within ${timeoutMs} ms`)), timeoutMs);
    function fail(err: Error): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    }
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('closed by the server before it sent HTTP/2 bytes')));
    socket.once('secureConnect', () => {
      if (socket.alpnProtocol !== 'h2') return fail(new Error(`ALPN ${String(socket.alpnProtocol)}, not h2`));
      if (!socket.authorized) return fail(new Error(`server certificate not authorized: ${String(socket.authorizationError)}`));
      socket.write(H2_PREFACE);
    });
    socket.once('data', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const ms = performance.now() - started;
      if (negotiated === undefined) {
        const group = socket.getEphemeralKeyInfo();
        negotiated = `${socket.getProtocol() ?? '?'} ${group && 'name' in group ? String(group.name) : '?'}`;
      }
      // A clean close (close_notify, FIN), so servers see an ordinary client going away, not a reset.
      socket.removeAllListeners('error');
      socket.on('error', () => undefined);
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
      resolve(ms);
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      servername: { type: 'string' },
      concurrency: { type: 'string' },
      seconds: { type: 'string' },
    },
    strict: true,
  });
  const a: HandshakeLoadArgs = {
    port: Number(values.port),
    ca: values.ca ?? '',
    cert: values.cert ?? '',
    key: values.key ?? '',
    servername: values.servername ?? 'localhost',
    concurrency: Number(values.concurrency ?? 8),
    seconds: Number(values.seconds ?? 5),
  };
  // One SecureContext for all connections: parsing PEM per connection would be client-side cost the server never
  // sees. Session caching is per connection anyway (no `session` passed), so this does not resume anything.
  const secure = tls.createSecureContext({ ca: readFileSync(a.ca), cert: readFileSync(a.cert), key: readFileSync(a.key) });
  const durations: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + a.seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      try {
        durations.push(await connectOnce(a, secure, 5000));
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: a.concurrency }, worker));
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  durations.sort((x, y) => x - y);
  const result: HandshakeLoadResult = {
    handshakes: durations.length,
    errors,
    firstError,
    elapsedMs,
    cpuUs: cpu.user + cpu.system,
    p50Ms: nearestRank(durations, 0.5),
    p99Ms: nearestRank(durations, 0.99),
    negotiated,
  };
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
