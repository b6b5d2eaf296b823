// SPDX-License-Identifier: Apache-2.0
// bench/handshake.ts and bench/handshake-load.ts: the load generator's argv and result line, adding up several, and
// that it counts a handshake only when the server accepted the client's certificate.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BenchCerts, makeBenchCerts, SERVER_DNS_NAME } from '../../../bench/certs.js';
import {
  handshakeLoadArgv,
  type HandshakeLoadResult,
  parseHandshakeResult,
  RESULT_PREFIX,
  sumHandshakeResults,
} from '../../../bench/handshake.js';
import { findTool } from '../../../bench/tools.js';

const result = (o: Partial<HandshakeLoadResult>): HandshakeLoadResult => ({
  handshakes: 100,
  errors: 0,
  firstError: undefined,
  elapsedMs: 1000,
  cpuUs: 500_000,
  p50Ms: 5,
  p99Ms: 9,
  negotiated: undefined,
  ...o,
});

describe('handshake load generator I/O', () => {
  it('passes every setting on its command line', () => {
    expect(handshakeLoadArgv({ port: 1, ca: 'a', cert: 'b', key: 'c', servername: 'localhost', concurrency: 8, seconds: 5 })).toEqual([
      '--port', '1', '--ca', 'a', '--cert', 'b', '--key', 'c', '--servername', 'localhost', '--concurrency', '8', '--seconds', '5',
    ]);
  });

  it('finds the result line among other output, and reads null percentiles as NaN', () => {
    const r = parseHandshakeResult(`warning\n${RESULT_PREFIX}{"handshakes":0,"errors":3,"firstError":"x","elapsedMs":10,"cpuUs":5,"p50Ms":null,"p99Ms":null}\n`);
    expect(r).toMatchObject({ handshakes: 0, errors: 3, firstError: 'x' });
    expect(r.p50Ms).toBeNaN();
    expect(() => parseHandshakeResult('Error: boom')).toThrow(/no result line[\s\S]*boom/);
  });

  it('adds up concurrent generators: counts and CPU summed, the longest elapsed, the worst percentiles', () => {
    const sum = sumHandshakeResults([result({ elapsedMs: 1000, p99Ms: 9 }), result({ elapsedMs: 1100, p99Ms: 12, errors: 2, firstError: 'e' })]);
    expect(sum).toMatchObject({ handshakes: 200, errors: 2, firstError: 'e', elapsedMs: 1100, cpuUs: 1_000_000, p99Ms: 12 });
  });
});

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const openssl = findTool('openssl');

describe.runIf(openssl !== undefined)('bench/handshake-load.ts against a node:tls server', () => {
  let dir: string;
  let certs: BenchCerts;
  let otherCa: BenchCerts;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bench-handshake-'));
    mkdirSync(path.join(dir, 'a'));
    mkdirSync(path.join(dir, 'b'));
    certs = makeBenchCerts(openssl as string, path.join(dir, 'a'));
    otherCa = makeBenchCerts(openssl as string, path.join(dir, 'b'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** An h2-speaking-enough mTLS server trusting `clientCa` (sends an empty SETTINGS frame once secure) under one load run. */
  async function loadAgainstServer(clientCa: string): Promise<{ accepted: number; result: HandshakeLoadResult }> {
    let accepted = 0;
    const server = tls.createServer(
      {
        cert: readFileSync(certs.serverCert),
        key: readFileSync(certs.serverKey),
        ca: readFileSync(clientCa),
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2'],
      },
      (socket) => {
        accepted++;
        socket.on('error', () => undefined);
        socket.end(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
      },
    );
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      // Asynchronous spawn: this process's event loop has to keep serving the handshakes meanwhile.
      const output = await new Promise<string>((resolve) => {
        const args = handshakeLoadArgv({ port, ca: certs.caCert, cert: certs.clientCert, key: certs.clientKey, servername: SERVER_DNS_NAME, concurrency: 2, seconds: 1 });
        const child = spawn(process.execPath, ['--import', 'tsx', 'bench/handshake-load.ts', ...args], { cwd: ROOT });
        let out = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.stderr.on('data', (c: Buffer) => (out += c.toString()));
        child.on('exit', () => resolve(out));
      });
      return { accepted, result: parseHandshakeResult(output) };
    } finally {
      server.close();
    }
  }

  it('completes full mTLS handshakes with ALPN h2 and reports its own CPU', async () => {
    const { accepted, result: r } = await loadAgainstServer(certs.caCert);
    expect(r.errors).toBe(0);
    expect(r.handshakes).toBeGreaterThan(0);
    expect(accepted).toBe(r.handshakes);
    expect(r.cpuUs).toBeGreaterThan(0);
    expect(r.negotiated).toMatch(/^TLSv1\.3 /);
  }, 20_000);

  it('counts nothing when the server rejects the client certificate', async () => {
    const { accepted, result: r } = await loadAgainstServer(otherCa.caCert);
    expect(accepted).toBe(0);
    expect(r.handshakes).toBe(0);
    expect(r.errors).toBeGreaterThan(0);
  }, 20_000);
});
