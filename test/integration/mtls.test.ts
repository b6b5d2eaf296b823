// SPDX-License-Identifier: Apache-2.0
// mTLS between two in-process sidecars on meshlet's HTTP/2 engine (issue 12, data path): every gRPC call type works
// over mTLS and the callee sees the caller's SPIFFE ID; strict refuses plaintext, permissive takes both on one port;
// bad peers (wrong CA, expired, no SPIFFE ID, wrong SPIFFE ID, http/1.1-only ALPN, garbage ClientHello) are refused,
// counted and never crash the sidecar; a certificate rotation mid-load fails no call; the health port stays plaintext.

import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { healthServiceDefinition } from '../../examples/services/shared/health.js';
import { useCleanup } from '../helpers/cleanup.js';
import { echoClient, startEcho, unary, type EchoClient } from '../helpers/echo.js';
import { fakeCertSource, type FakeCertSource } from '../helpers/fake-cert-source.js';
import { scrape } from '../helpers/prom-text.js';
import { startSidecar, type Sidecar } from '../helpers/sidecar.js';
import { usePki, type TestLeaf } from '../helpers/test-pki.js';
import { waitUntil } from '../helpers/wait.js';

const defer = useCleanup();
const pki = usePki();
const root = pki.ca('root');
const otherRoot = pki.ca('other-root');
// The schema wants a source; the tests hand the app a CertSource instead (AppOptions.certSource), so it is not read.
const UNUSED_SOURCE = { files: { certFile: 'unused.crt', keyFile: 'unused.key', trustBundleFile: 'unused.pem' } };

interface Callee {
  readonly sidecar: Sidecar;
  readonly source: FakeCertSource;
  readonly address: string;
}

/** The echo app behind a sidecar whose inbound listener runs `mode`, presenting `leaf`. */
async function callee(mode: 'strict' | 'permissive', leaf: TestLeaf = pki.leaf(root, 'echo'), healthListen?: string): Promise<Callee> {
  const echo = await startEcho();
  defer(() => echo.close());
  const source = fakeCertSource(leaf, [root]);
  const sidecar = await startSidecar(
    {
      service: { name: 'echo' },
      inbound: { listen: '127.0.0.1:0', app: echo.address },
      mtls: { source: UNUSED_SOURCE, inbound: { mode, ...(healthListen ? { healthListen } : {}) } },
    },
    { certSource: source },
  );
  defer(() => sidecar.close());
  return { sidecar, source, address: sidecar.inbound as string };
}

/** A caller sidecar whose outbound side originates mTLS to `target` as backend `echo`. */
async function caller(target: string, leaf: TestLeaf = pki.leaf(root, 'caller'), identities?: string[]): Promise<{ sidecar: Sidecar; client: EchoClient; source: FakeCertSource }> {
  const source = fakeCertSource(leaf, [root]);
  const sidecar = await startSidecar(
    {
      service: { name: 'caller' },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: { echo: { endpoints: [target], ...(identities ? { identities } : {}) } },
      mtls: { source: UNUSED_SOURCE, outbound: { mode: 'mtls' } },
    },
    { certSource: source },
  );
  defer(() => sidecar.close());
  const client = echoClient(sidecar.outbound as string, 'echo');
  defer(() => client.close());
  return { sidecar, client, source };
}

async function errorsCounted(s: Sidecar, reason: string): Promise<number> {
  return (await scrape(s.admin)).value('meshlet_connection_errors_total', { direction: 'inbound', reason }) ?? 0;
}

async function counterBecomes(s: Sidecar, reason: string, want: number): Promise<void> {
  const deadline = performance.now() + 5000;
  for (;;) {
    if ((await errorsCounted(s, reason)) === want) return;
    if (performance.now() > deadline) throw new Error(`connection_errors_total{reason=${reason}} never became ${want}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A raw TLS handshake against `address`: which ALPN was agreed, or the error, once the server decided. */
async function handshake(address: string, opts: { leaf?: TestLeaf; alpn?: string[] } = {}): Promise<{ ok: boolean; alpn?: string | false | null; peer?: X509Certificate; closedByServer: boolean }> {
  const [host, port] = address.split(':') as [string, string];
  const socket = tls.connect({
    host,
    port: Number(port),
    ca: root.certPem,
    ...(opts.leaf ? { cert: opts.leaf.certPem, key: opts.leaf.keyPem } : {}),
    ALPNProtocols: opts.alpn ?? ['h2'],
    checkServerIdentity: () => undefined,
  });
  defer(() => socket.destroy());
  socket.on('error', () => {});
  const first = (ok: string) =>
    new Promise<boolean>((resolve) => {
      socket.once(ok, () => resolve(true));
      socket.once('close', () => resolve(false));
    });
  const secure = await first('secureConnect');
  if (!secure) return { ok: false, closedByServer: true };
  const alpn = socket.alpnProtocol;
  const peer = socket.getPeerX509Certificate();
  // TLS 1.3: the server verifies the client certificate after the client's Finished; a refusal arrives as a close.
  socket.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'));
  const firstData = await first('data');
  return { ok: firstData, alpn, peer, closedByServer: !firstData };
}

function serverStream(c: EchoClient, md = new grpc.Metadata()): Promise<{ count: number; code: number }> {
  return new Promise((resolve) => {
    md.set('stream-count', '5');
    const call = c.ServerStream(Buffer.from('go'), md);
    let count = 0;
    call.on('data', () => count++);
    call.on('error', (e: grpc.ServiceError) => resolve({ count, code: e.code }));
    call.on('end', () => resolve({ count, code: 0 }));
  });
}

function clientStream(c: EchoClient): Promise<{ res?: Buffer; code: number }> {
  return new Promise((resolve) => {
    const call = c.ClientStream(new grpc.Metadata(), {}, (err, res) => resolve(err ? { code: err.code } : { res, code: 0 }));
    for (let i = 0; i < 4; i++) call.write(Buffer.alloc(10, i));
    call.end();
  });
}

function bidi(c: EchoClient): Promise<{ echoed: number; code: number }> {
  return new Promise((resolve) => {
    const call = c.Bidi(new grpc.Metadata());
    let echoed = 0;
    call.on('data', () => echoed++);
    call.on('error', (e: grpc.ServiceError) => resolve({ echoed, code: e.code }));
    call.on('end', () => resolve({ echoed, code: 0 }));
    for (let i = 0; i < 3; i++) call.write(Buffer.from(`m${i}`));
    call.end();
  });
}

describe('mTLS between sidecars', () => {
  it('carries unary, client-, server- and bidi-streaming calls; the callee sees the caller SPIFFE ID', async () => {
    const b = await callee('strict');
    const a = await caller(b.address);
    const u = await unary(a.client, Buffer.from('hello'));
    expect(u.err ?? undefined).toBeUndefined();
    expect(u.response?.toString()).toBe('hello');
    expect(await serverStream(a.client)).toEqual({ count: 5, code: 0 });
    const cs = await clientStream(a.client);
    expect(cs.code).toBe(0);
    expect(cs.res?.readUInt32BE(0)).toBe(4);
    expect(await bidi(a.client)).toEqual({ echoed: 3, code: 0 });
    // The callee's access log: every call on the connection carries the verified peer identity.
    await waitUntil(() => b.sidecar.logs.filter((l) => l.peer_identity !== undefined).length >= 4, 'access log lines');
    const ids = new Set(b.sidecar.logs.filter((l) => l.access === true || l.peer_identity !== undefined).map((l) => l.peer_identity));
    expect(ids).toEqual(new Set(['spiffe://meshlet.local/svc/caller']));
    // One TLS connection for all of them: the handshake is per connection, not per call.
    expect(a.sidecar.app.pools.outbound?.stats()[b.address]?.sessions).toBe(1);
  });

  it('strict refuses a plaintext h2c client, with a counter and a log line', async () => {
    const b = await callee('strict');
    const plain = echoClient(b.address);
    defer(() => plain.close());
    const r = await unary(plain, Buffer.from('x'), new grpc.Metadata(), { deadline: Date.now() + 2000 });
    expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
    await counterBecomes(b.sidecar, 'tls_required', 1);
    expect(b.sidecar.logs.some((l) => l.reason === 'tls_required' && l.level === 'warn')).toBe(true);
  });

  it('permissive takes plaintext h2c and mTLS on the same port', async () => {
    const b = await callee('permissive');
    const plain = echoClient(b.address);
    defer(() => plain.close());
    expect((await unary(plain, Buffer.from('plain'))).response?.toString()).toBe('plain');
    const a = await caller(b.address);
    expect((await unary(a.client, Buffer.from('tls'))).response?.toString()).toBe('tls');
    await waitUntil(() => b.sidecar.logs.filter((l) => l.access === true).length >= 2, 'two access lines');
    expect(b.sidecar.logs.filter((l) => l.access === true).map((l) => l.peer_identity ?? 'none')).toEqual(['none', 'spiffe://meshlet.local/svc/caller']);
  });

  it('refuses client certificates from another CA, expired, not yet valid, or without a SPIFFE ID', async () => {
    const b = await callee('strict');
    const cases: Array<[TestLeaf, string]> = [
      [pki.leaf(otherRoot, 'caller'), 'tls_handshake'],
      [pki.leaf(root, 'caller', { validity: 'expired' }), 'tls_handshake'],
      [pki.leaf(root, 'caller', { validity: 'future' }), 'tls_handshake'],
      [pki.leaf(root, 'caller', { spiffeId: null, extraSans: ['DNS:caller.local'] }), 'tls_peer_identity'],
    ];
    let handshakeErrors = 0;
    for (const [leaf, reason] of cases) {
      const r = await handshake(b.address, { leaf });
      expect(r.ok).toBe(false);
      if (reason === 'tls_handshake') handshakeErrors++;
      await counterBecomes(b.sidecar, reason, reason === 'tls_handshake' ? handshakeErrors : 1);
    }
    // No client certificate at all: refused too.
    expect((await handshake(b.address)).ok).toBe(false);
    await counterBecomes(b.sidecar, 'tls_handshake', handshakeErrors + 1);
    // Rate-limited logging: one warn for the four tls_handshake refusals within the interval, the rest counted.
    expect(b.sidecar.logs.filter((l) => l.reason === 'tls_handshake').length).toBe(1);
    // Still serving good peers.
    const a = await caller(b.address);
    expect((await unary(a.client, Buffer.from('ok'))).err ?? undefined).toBeUndefined();
  });

  it('refuses a TLS client that offers only http/1.1 (tls_no_h2) and a garbage ClientHello (tls_handshake)', async () => {
    const b = await callee('strict');
    const r = await handshake(b.address, { leaf: pki.leaf(root, 'caller'), alpn: ['http/1.1'] });
    expect(r.ok).toBe(false);
    await counterBecomes(b.sidecar, 'tls_no_h2', 1);
    expect(b.sidecar.logs.some((l) => l.reason === 'tls_no_h2' && String(l.msg).includes('ALPN h2'))).toBe(true);
    const [host, port] = b.address.split(':') as [string, string];
    const raw = net.connect({ host, port: Number(port) });
    defer(() => raw.destroy());
    raw.on('error', () => {});
    raw.resume(); // read (and drop) the alert, so the server's close is seen
    await once(raw, 'connect');
    // A TLS record header (handshake, TLS 1.0) followed by bytes that are no ClientHello.
    raw.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40]), Buffer.alloc(64, 0xee)]));
    await once(raw, 'close');
    await counterBecomes(b.sidecar, 'tls_handshake', 1);
    const a = await caller(b.address);
    expect((await unary(a.client, Buffer.from('still up'))).err ?? undefined).toBeUndefined();
  });

  it('fails the outbound attempt with UNAVAILABLE when the upstream SPIFFE ID is not the expected one', async () => {
    const b = await callee('strict', pki.leaf(root, 'impostor'));
    const a = await caller(b.address);
    const r = await unary(a.client, Buffer.from('x'));
    expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(r.err?.metadata.get('x-meshlet-error')).toEqual(['ERR_TLS_PEER_IDENTITY']);
    const line = a.sidecar.logs.find((l) => l.msg === 'upstream refused: its SPIFFE ID is not one expected for it');
    expect(line).toMatchObject({ expected: 'spiffe://meshlet.local/svc/echo', got: 'spiffe://meshlet.local/svc/impostor' });
    // The same upstream is accepted once it is configured as expected (a pattern).
    const a2 = await caller(b.address, pki.leaf(root, 'caller'), ['spiffe://meshlet.local/svc/*']);
    expect((await unary(a2.client, Buffer.from('y'))).err ?? undefined).toBeUndefined();
  });

  it('fails the outbound attempt with ERR_TLS_HANDSHAKE when the upstream chains to another CA', async () => {
    const echo = await startEcho();
    defer(() => echo.close());
    const source = fakeCertSource(pki.leaf(otherRoot, 'echo'), [otherRoot, root]);
    const b = await startSidecar(
      { service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: echo.address }, mtls: { source: UNUSED_SOURCE } },
      { certSource: source },
    );
    defer(() => b.close());
    const a = await caller(b.inbound as string);
    const r = await unary(a.client, Buffer.from('x'));
    expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(r.err?.metadata.get('x-meshlet-error')).toEqual(['ERR_TLS_HANDSHAKE']);
  });

  it('rotates mid-load: new handshakes get the new certificate, the established connection keeps working, no call fails', async () => {
    const b = await callee('strict');
    const a = await caller(b.address);
    const before = await handshake(b.address, { leaf: pki.leaf(root, 'caller') });
    const gen2 = pki.leaf(root, 'echo', { extraSans: ['DNS:generation-2'] });
    expect(before.peer?.serialNumber).not.toBe(new X509Certificate(gen2.certPem).serialNumber);
    let failed = 0;
    let done = 0;
    let rotated = false;
    const worker = async () => {
      for (let i = 0; i < 40; i++) {
        if (!rotated && done >= 40) {
          rotated = true;
          b.source.rotate(gen2, [root]);
          a.source.rotate(pki.leaf(root, 'caller', { extraSans: ['DNS:generation-2'] }), [root]);
        }
        const r = await unary(a.client, Buffer.from(`c${i}`));
        if (r.err) failed++;
        done++;
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(rotated).toBe(true);
    expect({ failed, done }).toEqual({ failed: 0, done: 160 });
    expect(a.sidecar.app.pools.outbound?.stats()[b.address]?.sessions).toBe(1);
    const after = await handshake(b.address, { leaf: pki.leaf(root, 'caller') });
    expect(after.ok).toBe(true);
    expect(after.peer?.serialNumber).toBe(new X509Certificate(gen2.certPem).serialNumber);
    expect(b.sidecar.logs.some((l) => l.msg === 'TLS contexts swapped: new handshakes use the new certificate' && l.generation === 2)).toBe(true);
  });
});

const HealthClient = grpc.makeGenericClientConstructor(healthServiceDefinition(), 'Health');

describe('the plaintext health port (mtls.inbound.healthListen)', () => {
  it('answers grpc.health.v1 without a certificate and UNIMPLEMENTED for anything else', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const b = await callee('strict', pki.leaf(root, 'echo'), `127.0.0.1:${port}`);
    const hc = new HealthClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
      Check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
      close(): void;
    };
    defer(() => hc.close());
    const status = await new Promise((resolve) => hc.Check({ service: '' }, (err, res) => resolve(err ? err.code : res?.status)));
    expect(status).toBe('SERVING');
    const other = echoClient(`127.0.0.1:${port}`);
    defer(() => other.close());
    const r = await unary(other, Buffer.from('x'));
    expect(r.err?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(r.err?.metadata.get('x-meshlet-error')).toEqual(['ERR_HEALTH_PORT_ONLY']);
  });
});
