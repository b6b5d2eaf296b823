// SPDX-License-Identifier: Apache-2.0
// Interop with a second HTTP/2 implementation: nghttp2 (C), through its command-line peers h2load and nghttp and
// through curl built on it, talks gRPC to a real sidecar's inbound and outbound listeners (both in front of the
// grpc-js echo) and sees what it sees when it calls the echo directly.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseH2loadSummary } from '../../bench/h2load.js';
import { useCleanup } from '../helpers/cleanup.js';
import { startEcho, type EchoServer } from '../helpers/echo.js';
import {
  curlTrailers,
  grpcFrame,
  missingInteropTools,
  parseNghttpVerbose,
  patternedBytes,
  runTool,
  type ReceivedStream,
} from '../helpers/nghttp2.js';
import { startSidecar, type Sidecar } from '../helpers/sidecar.js';

type Path = 'direct' | 'inbound' | 'outbound';
const PROXIED: Path[] = ['inbound', 'outbound'];
const UNARY = '/test.Echo/Unary';
const GRPC_HEADERS = ['content-type: application/grpc', 'te: trailers'];
/** A -bin metadata value that is not valid UTF-8 (0x00 0x01 0x02 0xff), base64 as on the wire. */
const RAW_BIN = Buffer.from([0, 1, 2, 255]).toString('base64');

const missing = missingInteropTools();
const onCi = (process.env.CI ?? '') !== '';

if (missing.length > 0 && onCi) {
  describe('nghttp2 interop prerequisites', () => {
    it('has h2load, nghttp and a curl with HTTP/2 installed (.ci/run installs them)', () => {
      throw new Error(`missing on CI: ${missing.join(', ')}; install with apt-get install -y nghttp2-client curl`);
    });
  });
}

describe.skipIf(missing.length > 0)(`gRPC from nghttp2 peers through the sidecar${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`, () => {
  const defer = useCleanup();

  interface Mesh {
    readonly echo: EchoServer;
    readonly sidecar: Sidecar;
    /** host:port and, for outbound, the :authority that names the upstream. */
    readonly targets: Record<Path, { address: string; authority?: string }>;
    /** Writes `body` to a temporary file (removed after the test) and returns its path. */
    file(name: string, body: Buffer): Promise<string>;
  }

  /** The echo, one sidecar whose inbound fronts it and whose outbound routes upstream `echo` to it (static endpoint). */
  async function startMesh(): Promise<Mesh> {
    const dir = await mkdtemp(path.join(tmpdir(), 'meshlet-nghttp2-'));
    defer(() => rm(dir, { recursive: true, force: true }));
    const echo = await startEcho();
    defer(() => echo.close());
    const sidecar = await startSidecar({
      service: { name: 'echo' },
      inbound: { listen: '127.0.0.1:0', app: echo.address },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: { echo: { endpoints: [echo.address] } },
    });
    defer(() => sidecar.close());
    return {
      echo,
      sidecar,
      targets: {
        direct: { address: echo.address },
        inbound: { address: sidecar.inbound as string },
        outbound: { address: sidecar.outbound as string, authority: 'echo' },
      },
      async file(name, body) {
        const p = path.join(dir, name);
        await writeFile(p, body);
        return p;
      },
    };
  }

  /** `-H` arguments: the gRPC headers, `:authority` when the target needs one, then `extra`. */
  function headerArgs(target: { authority?: string }, extra: string[] = [], authorityField = ':authority'): string[] {
    const fields = [...GRPC_HEADERS, ...(target.authority !== undefined ? [`${authorityField}: ${target.authority}`] : []), ...extra];
    return fields.flatMap((f) => ['-H', f]);
  }

  function accessLines(sidecar: Sidecar): Array<Record<string, unknown>> {
    return sidecar.logs.filter((l) => l.access === true);
  }

  describe('h2load', () => {
    it.each(PROXIED)('completes 2000 unary calls over 4 connections x 20 streams through %s, all reaching the echo', async (p) => {
      const mesh = await startMesh();
      const body = await mesh.file('body', grpcFrame(Buffer.from('h2load says hi')));
      const target = mesh.targets[p];
      const r = await runTool(
        'h2load',
        ['-n', '2000', '-c', '4', '-m', '20', '--data', body, ...headerArgs(target), `http://${target.address}${UNARY}`],
        defer,
      );
      const out = r.stdout.toString('utf8');
      expect(r.code, out + r.stderr).toBe(0);
      expect(parseH2loadSummary(out)).toMatchObject({ done: 2000, succeeded: 2000, failed: 0, errored: 0, timeout: 0 });
      // h2load counts any :status 2xx as success, a gRPC error included: the echo's count and the sidecar's access
      // log are what prove every call was routed and answered OK.
      expect(mesh.echo.calls.length).toBe(2000);
      const access = accessLines(mesh.sidecar);
      expect(access).toHaveLength(2000);
      expect(access.filter((l) => l.grpc_status !== 0)).toEqual([]);
    });
  });

  describe('nghttp -v', () => {
    /** One call with nghttp -nv; the response as nghttp decoded it, minus the per-call `date` field. */
    async function nghttpCall(mesh: Mesh, p: Path, bodyPath: string, metadata: string[]): Promise<ReceivedStream> {
      const target = mesh.targets[p];
      const r = await runTool('nghttp', ['-n', '-v', '--data', bodyPath, ...headerArgs(target, metadata), `http://${target.address}${UNARY}`], defer);
      const out = r.stdout.toString('utf8');
      expect(r.code, out + r.stderr).toBe(0);
      const streams = [...parseNghttpVerbose(out).values()];
      expect(streams, out).toHaveLength(1);
      const s = streams[0] as ReceivedStream;
      return { ...s, headers: s.headers.map((h) => ({ ...h, fields: h.fields.filter(([name]) => name !== 'date') })) };
    }

    async function onAllPaths(metadata: string[]): Promise<Map<Path, ReceivedStream>> {
      const mesh = await startMesh();
      const body = await mesh.file('body', grpcFrame(Buffer.from('nghttp request')));
      const seen = new Map<Path, ReceivedStream>();
      for (const p of ['direct', ...PROXIED] as Path[]) seen.set(p, await nghttpCall(mesh, p, body, metadata));
      expect(mesh.echo.calls.length).toBe(3);
      return seen;
    }

    function expectSameAsDirect(seen: Map<Path, ReceivedStream>): ReceivedStream {
      const direct = seen.get('direct') as ReceivedStream;
      for (const p of PROXIED) expect(seen.get(p), p).toEqual(direct);
      return direct;
    }

    const field = (s: ReceivedStream, block: number, name: string) =>
      s.headers[block]?.fields.filter(([n]) => n === name).map(([, v]) => v);

    it('shows the same response headers, DATA and trailers (with a -bin value) through both listeners as directly', async () => {
      const direct = expectSameAsDirect(await onAllPaths([`x-echo-raw-bin: ${RAW_BIN}`]));
      expect(direct.rstStream).toBe(false);
      expect(direct.dataBytes).toBe(5 + 'nghttp request'.length);
      expect(direct.headers.map((h) => h.endStream)).toEqual([false, true]);
      expect(field(direct, 0, ':status')).toEqual(['200']);
      expect(field(direct, 0, 'x-echo-raw-bin')).toEqual([RAW_BIN]);
      expect(field(direct, 1, 'grpc-status')).toEqual(['0']);
      expect(field(direct, 1, 'x-echo-raw-bin')).toEqual([RAW_BIN]);
    });

    it('shows the same error status, percent-encoded message, details and -bin trailer as directly', async () => {
      const details = Buffer.from([8, 5, 18, 3, 0xe2, 0x9c, 0x93]).toString('base64');
      const direct = expectSameAsDirect(
        await onAllPaths([
          'respond-with-status: 5',
          'respond-with-message: user 42 not found: 100%',
          `respond-with-details: ${details}`,
          `x-echo-raw-bin: ${RAW_BIN}`,
        ]),
      );
      expect(direct.dataBytes).toBe(0);
      expect(direct.headers.map((h) => h.endStream)).toEqual([false, true]);
      expect(field(direct, 1, 'grpc-status')).toEqual(['5']);
      expect(field(direct, 1, 'grpc-message')).toEqual(['user%2042%20not%20found:%20100%25']);
      expect(field(direct, 1, 'grpc-status-details-bin')).toEqual([details]);
      expect(field(direct, 1, 'x-echo-raw-bin')).toEqual([RAW_BIN]);
    });

    it('keeps a Trailers-Only error response a single HEADERS frame with END_STREAM, as directly', async () => {
      const direct = expectSameAsDirect(await onAllPaths(['respond-with-status: 7', 'respond-with-message: denied']));
      expect(direct.dataBytes).toBe(0);
      expect(direct.headers.map((h) => h.endStream)).toEqual([true]);
      expect(field(direct, 0, ':status')).toEqual(['200']);
      expect(field(direct, 0, 'grpc-status')).toEqual(['7']);
      expect(field(direct, 0, 'grpc-message')).toEqual(['denied']);
    });
  });

  describe('curl --http2-prior-knowledge', () => {
    it.each(PROXIED)('gets the echoed body and grpc-status 0 in the trailers through %s', async (p) => {
      const mesh = await startMesh();
      const frame = grpcFrame(patternedBytes(1000));
      const body = await mesh.file('body', frame);
      const target = mesh.targets[p];
      // curl turns a Host header into :authority on HTTP/2.
      const r = await runTool(
        'curl',
        ['--http2-prior-knowledge', '-sS', '-v', '--data-binary', `@${body}`, ...headerArgs(target, [], 'Host'), `http://${target.address}${UNARY}`],
        defer,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.equals(frame), r.stderr).toBe(true);
      expect(curlTrailers(r.stderr), r.stderr).toContainEqual(['grpc-status', '0']);
      expect(mesh.echo.calls).toHaveLength(1);
    });
  });

  describe('large messages', () => {
    it.each(PROXIED)('carries a 4 MiB message to the echo and back intact through %s (nghttp)', async (p) => {
      const mesh = await startMesh();
      const frame = grpcFrame(patternedBytes(4 << 20));
      const body = await mesh.file('big', frame);
      const target = mesh.targets[p];
      // Without -v, nghttp writes the response body (one gRPC frame: the echo returns the request) to stdout.
      const r = await runTool('nghttp', ['--data', body, ...headerArgs(target), `http://${target.address}${UNARY}`], defer);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.length).toBe(frame.length);
      expect(r.stdout.equals(frame)).toBe(true);
      expect(mesh.echo.calls).toHaveLength(1);
      const access = accessLines(mesh.sidecar);
      expect(access).toHaveLength(1);
      expect(access[0]).toMatchObject({ grpc_status: 0, request_bytes: frame.length, response_bytes: frame.length });
    });
  });
});
