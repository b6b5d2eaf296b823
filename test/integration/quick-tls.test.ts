// SPDX-License-Identifier: Apache-2.0
// Quick mode with TLS on both legs (`meshlet proxy --tls-* --upstream-*`): a grpc-js client with
// grpc.credentials.createSsl(ca, key, cert) → meshlet (client certs required) → a grpc-js TLS upstream that requires
// meshlet's client certificate and is verified by SPIFFE ID or DNS name; bad flags and files fail at startup.

import * as grpc from '@grpc/grpc-js';
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runMeshlet, spawnMeshlet, waitForLog } from '../helpers/cli.js';
import { useCleanup } from '../helpers/cleanup.js';
import { echoClient, startEcho, unary } from '../helpers/echo.js';
import { usePki } from '../helpers/test-pki.js';

const defer = useCleanup();
const pki = usePki();
const root = pki.ca('root');
const LOCAL = ['IP:127.0.0.1', 'DNS:localhost'];
const proxyLeaf = pki.leaf(root, 'proxy', { extraSans: LOCAL });
const clientLeaf = pki.leaf(root, 'client');
const upstreamLeaf = pki.leaf(root, 'echo', { extraSans: ['DNS:echo.internal', ...LOCAL] });

/** A TLS echo upstream that requires a client certificate from `root`. */
async function tlsEcho() {
  const echo = await startEcho({}, {}, grpc.ServerCredentials.createSsl(Buffer.from(root.certPem), [{ cert_chain: Buffer.from(upstreamLeaf.certPem), private_key: Buffer.from(upstreamLeaf.keyPem) }], true));
  defer(() => echo.close());
  return echo;
}

async function proxy(args: string[]): Promise<{ child: ChildProcess; listen: string }> {
  const child = spawnMeshlet(['proxy', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...args]);
  defer(() => child.kill('SIGKILL'));
  const line = await waitForLog(child, (l) => l.msg === 'meshlet listening');
  return { child, listen: String(line.inbound) };
}

function tlsClient(address: string) {
  const creds = grpc.credentials.createSsl(Buffer.from(root.certPem), Buffer.from(clientLeaf.keyPem), Buffer.from(clientLeaf.certPem));
  const c = echoClient(address, undefined, {}, creds);
  defer(() => c.close());
  return c;
}

describe('meshlet proxy with TLS on both legs', () => {
  it('serves a grpc-js createSsl client and verifies the upstream by SPIFFE ID, presenting its own certificate', async () => {
    const echo = await tlsEcho();
    const { listen } = await proxy([
      '--upstream', echo.address,
      '--tls-cert', proxyLeaf.certFile, '--tls-key', proxyLeaf.keyFile, '--tls-client-ca', root.certFile,
      '--upstream-tls', '--upstream-ca', root.certFile, '--upstream-cert', proxyLeaf.certFile, '--upstream-key', proxyLeaf.keyFile,
      '--upstream-spiffe-id', 'spiffe://meshlet.local/svc/echo',
    ]);
    const r = await unary(tlsClient(listen), Buffer.from('over tls'));
    expect(r.err ?? undefined).toBeUndefined();
    expect(r.response?.toString()).toBe('over tls');
    // A plaintext client is refused by the TLS listener.
    const plain = echoClient(listen);
    defer(() => plain.close());
    expect((await unary(plain, Buffer.from('x'), new grpc.Metadata(), { deadline: Date.now() + 3000 })).err?.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('verifies the upstream by --upstream-server-name, and fails the call UNAVAILABLE when the name is wrong', async () => {
    const echo = await tlsEcho();
    const common = ['--upstream', echo.address, '--tls-cert', proxyLeaf.certFile, '--tls-key', proxyLeaf.keyFile, '--upstream-tls', '--upstream-ca', root.certFile, '--upstream-cert', proxyLeaf.certFile, '--upstream-key', proxyLeaf.keyFile];
    const good = await proxy([...common, '--upstream-server-name', 'echo.internal']);
    const creds = grpc.credentials.createSsl(Buffer.from(root.certPem));
    const c = echoClient(good.listen, undefined, {}, creds);
    defer(() => c.close());
    expect((await unary(c, Buffer.from('named'))).response?.toString()).toBe('named');
    const bad = await proxy([...common, '--upstream-server-name', 'billing.internal']);
    const c2 = echoClient(bad.listen, undefined, {}, creds);
    defer(() => c2.close());
    const r = await unary(c2, Buffer.from('x'));
    expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(r.err?.metadata.get('x-meshlet-error')).toEqual(['ERR_TLS_PEER_IDENTITY']);
  });

  it.each([
    [['--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem'], '--tls-cert /nonexistent/cert.pem: cannot read: ENOENT'],
    [['--tls-cert', 'KEY', '--tls-key', 'KEY'], 'not a PEM certificate'],
    [['--tls-cert', 'CERT', '--tls-key', 'OTHERKEY'], 'does not match the certificate of --tls-cert'],
    [['--tls-cert', 'CERT'], '--tls-cert and --tls-key go together'],
    [['--upstream-ca', 'CERT'], '--upstream-ca needs --upstream-tls'],
    [['--upstream-tls'], '--upstream-tls needs --upstream-ca FILE'],
  ])('refuses to start on bad TLS flags %j', async (args, message) => {
    const files: Record<string, string> = { KEY: proxyLeaf.keyFile, CERT: proxyLeaf.certFile, OTHERKEY: clientLeaf.keyFile };
    const r = await runMeshlet(['proxy', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:1', ...args.map((a) => files[a] ?? a)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });
});
