// SPDX-License-Identifier: Apache-2.0
// The data plane is transparent: every gRPC call behaves the same directly, through one sidecar (inbound), through
// two (outbound → inbound), through two with mTLS between them, and through one sidecar with TLS on both legs (the
// client's and the app's). Each scenario runs on every path and compares what the client observes.

import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadQuickTls } from '../../src/tls/quick-flags.js';
import { startSidecar, type Sidecar } from '../helpers/sidecar.js';
import { echoClient, startEcho, unary, type EchoClient, type EchoServer, type UnaryResult } from '../helpers/echo.js';
import { fakeCertSource } from '../helpers/fake-cert-source.js';
import { usePki } from '../helpers/test-pki.js';

type Path = 'direct' | 'one sidecar' | 'two sidecars' | 'two sidecars, mTLS' | 'one sidecar, TLS both legs';
const PATHS: Path[] = ['direct', 'one sidecar', 'two sidecars', 'two sidecars, mTLS', 'one sidecar, TLS both legs'];
/** The paths through meshlet, for the scenarios that watch what the upstream app saw. */
const PROXIED: Exclude<Path, 'direct'>[] = ['one sidecar', 'two sidecars', 'two sidecars, mTLS', 'one sidecar, TLS both legs'];

const pki = usePki();
const root = pki.ca('root');
let echo: EchoServer;
let tlsEcho: EchoServer; // the app behind the TLS-both-legs sidecar, serving TLS itself
/** The app each path ends at. */
const upstreamOf = new Map<Path, EchoServer>();
const tlsSidecars: Sidecar[] = [];
let inboundOnly: Sidecar;
let sidecarA: Sidecar; // the caller's sidecar (outbound)
let sidecarB: Sidecar; // the callee's sidecar (inbound)
const clients = new Map<Path, EchoClient>();

beforeAll(async () => {
  echo = await startEcho();
  inboundOnly = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: echo.address } });
  sidecarB = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: echo.address } });
  sidecarA = await startSidecar({
    service: { name: 'caller' },
    outbound: { listen: '127.0.0.1:0' },
    upstreams: { echo: { endpoints: [sidecarB.inbound as string] } },
  });
  clients.set('direct', echoClient(echo.address));
  clients.set('one sidecar', echoClient(inboundOnly.inbound as string));
  clients.set('two sidecars', echoClient(sidecarA.outbound as string, 'echo'));

  // Sidecar to sidecar over mTLS (strict callee), certificates from the test PKI.
  const unused = { files: { certFile: 'unused.crt', keyFile: 'unused.key', trustBundleFile: 'unused.pem' } };
  const calleeTls = await startSidecar(
    { service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: echo.address }, mtls: { source: unused, inbound: { mode: 'strict' } } },
    { certSource: fakeCertSource(pki.leaf(root, 'echo'), [root]) },
  );
  tlsSidecars.push(calleeTls);
  const callerTls = await startSidecar(
    {
      service: { name: 'caller' },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: { echo: { endpoints: [calleeTls.inbound as string] } },
      mtls: { source: unused, outbound: { mode: 'mtls' } },
    },
    { certSource: fakeCertSource(pki.leaf(root, 'caller'), [root]) },
  );
  tlsSidecars.push(callerTls);
  clients.set('two sidecars, mTLS', echoClient(callerTls.outbound as string, 'echo'));

  // One sidecar with TLS on both legs, as quick mode's --tls-* and --upstream-* flags set it up.
  const app = pki.leaf(root, 'app');
  const edge = pki.leaf(root, 'edge', { extraSans: ['IP:127.0.0.1'] }); // grpc-js checks the address it dialled
  const client = pki.leaf(root, 'client');
  tlsEcho = await startEcho({}, {}, grpc.ServerCredentials.createSsl(Buffer.from(root.certPem), [{ cert_chain: Buffer.from(app.certPem), private_key: Buffer.from(app.keyPem) }], true));
  const quick = loadQuickTls({
    'tls-cert': edge.certFile,
    'tls-key': edge.keyFile,
    'tls-client-ca': root.certFile,
    'upstream-tls': true,
    'upstream-ca': root.certFile,
    'upstream-cert': edge.certFile,
    'upstream-key': edge.keyFile,
    'upstream-spiffe-id': 'spiffe://meshlet.local/svc/app',
  });
  if (!quick.ok) throw new Error(quick.errors.join('; '));
  const edgeSidecar = await startSidecar(
    { service: { name: 'edge' }, inbound: { listen: '127.0.0.1:0', app: tlsEcho.address } },
    { tls: { ...(quick.tls.listener && { inboundTls: quick.tls.listener }), ...(quick.tls.upstream && { appConnector: quick.tls.upstream }) } },
  );
  tlsSidecars.push(edgeSidecar);
  const creds = grpc.credentials.createSsl(Buffer.from(root.certPem), Buffer.from(client.keyPem), Buffer.from(client.certPem));
  clients.set('one sidecar, TLS both legs', echoClient(edgeSidecar.inbound as string, undefined, {}, creds));

  for (const p of PATHS) upstreamOf.set(p, p === 'one sidecar, TLS both legs' ? tlsEcho : echo);
});

afterAll(async () => {
  for (const c of clients.values()) c.close();
  await Promise.all([inboundOnly?.close(), sidecarA?.close(), sidecarB?.close(), ...tlsSidecars.map((t) => t.close())]);
  await Promise.all([echo?.close(), tlsEcho?.close()]);
});

/** What a client can observe of a unary call, minus what legitimately varies per call (date). */
function observe(r: UnaryResult) {
  const md = (m: grpc.Metadata | undefined) => {
    if (m === undefined) return undefined;
    const map = { ...m.toJSON() } as Record<string, unknown>;
    delete map.date;
    return map;
  };
  return {
    code: r.err?.code ?? 0,
    details: r.err?.details,
    response: r.response?.toString('base64'),
    headers: md(r.headers),
    trailers: md(r.trailers ?? r.err?.metadata),
  };
}

async function onAllPaths(call: (c: EchoClient) => Promise<UnaryResult>) {
  const results = new Map<Path, ReturnType<typeof observe>>();
  for (const p of PATHS) results.set(p, observe(await call(clients.get(p) as EchoClient)));
  return results;
}

function expectSame(results: Map<Path, unknown>) {
  const direct = results.get('direct');
  for (const p of PROXIED) expect(results.get(p), p).toEqual(direct);
}

describe('unary calls are identical directly and through sidecars', () => {
  it('relays the message, custom metadata (text and -bin, repeated) and trailers', async () => {
    const results = await onAllPaths((c) => {
      const md = new grpc.Metadata();
      md.add('x-echo-text', 'hello');
      md.add('x-echo-text', 'world');
      md.add('x-echo-raw-bin', Buffer.from([0, 1, 2, 255, 254]));
      md.add('x-echo-raw-bin', Buffer.from([9, 8, 7]));
      return unary(c, Buffer.from('payload bytes'), md);
    });
    expectSame(results);
    const direct = results.get('direct');
    expect(direct?.code).toBe(0);
    expect(direct?.response).toBe(Buffer.from('payload bytes').toString('base64'));
    // grpc-js joins repeated values into one header; what matters is that every path shows the same.
    expect(direct?.headers?.['x-echo-text']).toEqual(['hello, world']);
    expect(direct?.trailers?.['x-echo-raw-bin']).toHaveLength(2);
  });

  it('relays error statuses with percent-encoded messages and grpc-status-details-bin', async () => {
    const details = Buffer.from([8, 5, 18, 3, 0xe2, 0x9c, 0x93]).toString('base64');
    const results = await onAllPaths((c) => {
      const md = new grpc.Metadata();
      md.set('respond-with-status', String(grpc.status.NOT_FOUND));
      md.set('respond-with-message-b64', Buffer.from('user 42 not found: 100% ✓ — naïve').toString('base64'));
      md.set('respond-with-details', details);
      md.set('x-echo-why', 'because');
      return unary(c, Buffer.from('x'), md);
    });
    expectSame(results);
    const direct = results.get('direct');
    expect(direct?.code).toBe(grpc.status.NOT_FOUND);
    expect(direct?.details).toBe('user 42 not found: 100% ✓ — naïve');
    expect(direct?.trailers?.['grpc-status-details-bin']).toBeDefined();
  });

  it.each([0, 1, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])('relays status %i unchanged', async (code) => {
    const results = await onAllPaths((c) => {
      const md = new grpc.Metadata();
      if (code !== 0) {
        md.set('respond-with-status', String(code));
        md.set('respond-with-message', `status ${code}`);
      }
      return unary(c, Buffer.from([code]), md);
    });
    expectSame(results);
    expect(results.get('two sidecars, mTLS')?.code).toBe(code);
  });

  it('relays an empty message and a 16 MiB message (both directions)', async () => {
    const big = Buffer.alloc(16 << 20);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
    for (const p of PATHS) {
      const c = clients.get(p) as EchoClient;
      const empty = await unary(c, Buffer.alloc(0));
      expect(empty.err).toBeNull();
      expect(empty.response?.length).toBe(0);
      const r = await unary(c, big);
      expect(r.err, p).toBeNull();
      expect(r.response?.equals(big), p).toBe(true);
    }
  });
});

describe('streaming calls are identical directly and through sidecars', () => {
  function serverStream(c: EchoClient, md: grpc.Metadata) {
    return new Promise<{ messages: string[]; code: number; details: string; headers: unknown; trailers: unknown }>((resolve) => {
      const messages: string[] = [];
      let headers: unknown;
      const call = c.ServerStream(Buffer.from('go'), md);
      call.on('metadata', (m: grpc.Metadata) => {
        const j = { ...m.toJSON() } as Record<string, unknown>;
        delete j.date;
        headers = j;
      });
      call.on('data', (b: Buffer) => messages.push(b.toString('base64')));
      call.on('error', () => {});
      call.on('status', (s: grpc.StatusObject) => resolve({ messages, code: s.code, details: s.details, headers, trailers: s.metadata.toJSON() }));
    });
  }

  it('server streaming: 200 messages then OK with trailers', async () => {
    const results = new Map<Path, unknown>();
    for (const p of PATHS) {
      const md = new grpc.Metadata();
      md.set('stream-count', '200');
      md.set('stream-size', '1000');
      md.set('x-echo-k', 'v');
      results.set(p, await serverStream(clients.get(p) as EchoClient, md));
    }
    expectSame(results);
    expect((results.get('direct') as { messages: string[] }).messages).toHaveLength(200);
  });

  it('server streaming: messages then an error status', async () => {
    const results = new Map<Path, unknown>();
    for (const p of PATHS) {
      const md = new grpc.Metadata();
      md.set('stream-count', '5');
      md.set('respond-with-status', String(grpc.status.ABORTED));
      md.set('respond-with-message', 'aborted after 5');
      results.set(p, await serverStream(clients.get(p) as EchoClient, md));
    }
    expectSame(results);
    expect((results.get('direct') as { code: number }).code).toBe(grpc.status.ABORTED);
  });

  it('server streaming: 64 MiB streamed with back-pressure arrives intact', async () => {
    for (const p of PROXIED) {
      const md = new grpc.Metadata();
      md.set('stream-count', '64');
      md.set('stream-size', String(1 << 20));
      const r = await serverStream(clients.get(p) as EchoClient, md);
      expect(r.code, p).toBe(0);
      expect(r.messages).toHaveLength(64);
    }
  });

  it('client streaming: every message reaches the upstream', async () => {
    const results = new Map<Path, unknown>();
    for (const p of PATHS) {
      const c = clients.get(p) as EchoClient;
      results.set(
        p,
        await new Promise((resolve) => {
          const call = c.ClientStream(new grpc.Metadata(), {}, (err, res) => resolve({ code: err?.code ?? 0, count: res?.readUInt32BE(0), total: res?.readUInt32BE(4) }));
          for (let i = 0; i < 100; i++) call.write(Buffer.alloc(100 + i, i));
          call.end();
        }),
      );
    }
    expectSame(results);
    expect(results.get('direct')).toEqual({ code: 0, count: 100, total: 100 * 100 + (99 * 100) / 2 });
  });

  it('bidi streaming: interleaved request and response messages', async () => {
    for (const p of PATHS) {
      const c = clients.get(p) as EchoClient;
      const call = c.Bidi(new grpc.Metadata());
      const got: string[] = [];
      // Ping-pong: each write waits for the previous echo, which proves messages are relayed as they come.
      await new Promise<void>((resolve, reject) => {
        let i = 0;
        call.on('data', (b: Buffer) => {
          got.push(b.toString());
          if (++i < 20) call.write(Buffer.from(`m${i}`));
          else call.end();
        });
        call.on('error', reject);
        call.on('status', (s: grpc.StatusObject) => (s.code === 0 ? resolve() : reject(new Error(s.details))));
        call.write(Buffer.from('m0'));
      });
      expect(got, p).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    }
  });
});

describe('deadlines, cancellation and compression', () => {
  it('forwards the remaining deadline and answers DEADLINE_EXCEEDED when it expires', async () => {
    for (const p of PROXIED) {
      const c = clients.get(p) as EchoClient;
      const echo = upstreamOf.get(p) as EchoServer;
      const before = echo.calls.length;
      const cancelled = new Promise((resolve) => echo.events.once('cancelled', resolve));
      const md = new grpc.Metadata();
      md.set('never-respond', '1');
      const deadline = Date.now() + 300;
      const r = await unary(c, Buffer.from('slow'), md, { deadline });
      expect(r.err?.code, p).toBe(grpc.status.DEADLINE_EXCEEDED);
      await cancelled; // the upstream's call was cancelled, not left hanging
      // The upstream got a deadline close to the client's. A relative grpc-timeout is measured from when each hop
      // receives the call, so every hop may add its receive latency (a loaded CI machine: tens of ms); what this
      // rules out is a missing or unrelated deadline.
      const seen = Number(echo.calls[before]?.deadline);
      expect(seen, p).toBeGreaterThan(deadline - 300);
      expect(seen, p).toBeLessThanOrEqual(deadline + 100);
    }
  });

  it('a deadline that expires in the proxy ends the call with DEADLINE_EXCEEDED on the wire', async () => {
    // A raw HTTP/2 client does not enforce deadlines itself, and the app here ignores grpc-timeout (a grpc-js app
    // enforces it too, and its timer can fire first: same deadline, same process), so only meshlet's timer can end
    // the call. The app sees its stream reset.
    const http2 = await import('node:http2');
    const app = http2.createServer();
    const reset = new Promise<number>((resolve) =>
      app.on('stream', (s) => {
        s.on('error', () => {});
        s.resume();
        s.on('close', () => resolve(s.rstCode));
      }),
    );
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const appAddress = `127.0.0.1:${(app.address() as import('node:net').AddressInfo).port}`;
    const sidecar = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: appAddress } });
    const session = http2.connect(`http://${sidecar.inbound}`);
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/test.Echo/Unary',
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': '100m',
      });
      stream.end(Buffer.from([0, 0, 0, 0, 1, 65]));
      const headers = await new Promise<Record<string, unknown>>((resolve) => stream.once('response', (h) => resolve(h)));
      expect(headers['grpc-status']).toBe('4');
      expect(headers['x-meshlet-error']).toBe('ERR_DEADLINE_EXCEEDED');
      expect(await reset).toBe(http2.constants.NGHTTP2_CANCEL);
    } finally {
      session.close();
      await sidecar.close();
      await new Promise((r) => app.close(r));
    }
  });

  it('a client cancel resets the upstream call', async () => {
    for (const p of PROXIED) {
      const c = clients.get(p) as EchoClient;
      const echo = upstreamOf.get(p) as EchoServer;
      const md = new grpc.Metadata();
      md.set('never-respond', '1');
      md.set('stream-count', '2');
      const call = c.ServerStream(Buffer.from('x'), md);
      const cancelled = new Promise((resolve) => echo.events.once('cancelled', resolve));
      const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
      call.on('error', () => {});
      await new Promise((resolve) => call.once('data', resolve));
      call.cancel();
      await cancelled;
      expect((await status).code, p).toBe(grpc.status.CANCELLED);
    }
  });

  it('passes compressed messages and grpc-encoding through untouched', async () => {
    // grpc-js hides grpc-encoding from handlers, so a raw HTTP/2 upstream records what arrives on the wire.
    const http2 = await import('node:http2');
    const seen: Array<{ encoding: unknown; flag: number | undefined }> = [];
    const raw = http2.createServer();
    raw.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const body = Buffer.concat(chunks);
        // The sidecar's own probes of its app (grpc.health.v1, at start and periodically) are not the calls under test.
        if (headers[':path'] !== '/grpc.health.v1.Health/Check') seen.push({ encoding: headers['grpc-encoding'], flag: body[0] });
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-encoding': 'gzip' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(body); // echo the compressed frame back as is
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const rawAddress = `127.0.0.1:${(raw.address() as { port: number }).port}`;
    const side = await startSidecar({ service: { name: 'raw' }, inbound: { listen: '127.0.0.1:0', app: rawAddress } });
    try {
      for (const address of [rawAddress, side.inbound as string]) {
        const c = echoClient(address, undefined, { 'grpc.default_compression_algorithm': 2 });
        const payload = Buffer.alloc(50_000, 'a');
        const r = await unary(c, payload);
        c.close();
        expect(r.err, address).toBeNull();
        expect(r.response?.equals(payload)).toBe(true);
      }
      expect(seen).toEqual([
        { encoding: 'gzip', flag: 1 },
        { encoding: 'gzip', flag: 1 },
      ]);
    } finally {
      await side.close();
      raw.close();
    }
  });
});

describe('load', () => {
  it('1000 concurrent calls through two sidecars all succeed', async () => {
    const c = clients.get('two sidecars') as EchoClient;
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => unary(c, Buffer.from(`call ${i}`))));
    const failed = results.filter((r) => r.err !== null);
    expect(failed.map((f) => f.err?.details).slice(0, 3)).toEqual([]);
    results.forEach((r, i) => expect(r.response?.toString()).toBe(`call ${i}`));
  });
});
