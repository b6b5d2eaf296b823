// SPDX-License-Identifier: Apache-2.0
// What meshlet's own errors put in grpc-message, per side (issue 11, docs/errors.md "What goes on the wire"):
// callers of the inbound side (other services) get a generic message, never an internal address or errno; the
// local app on the outbound side gets the detail; the sidecar's access log keeps the detail either way.

import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { deadPort, useScoped } from '../helpers/scoped.js';
import { startEcho, unary } from '../helpers/echo.js';
import type { Sidecar } from '../helpers/sidecar.js';

const { defer, sidecar, client } = useScoped();

/** The access-log lines of `s` so far. */
const accessLines = (s: Sidecar) => s.logs.filter((l) => l.access === true);

describe('meshlet errors on the wire, per side', () => {
  it('a caller of an inbound sidecar whose app is down learns no address or errno; the sidecar logs them', async () => {
    const appPort = await deadPort();
    const b = await sidecar({ service: { name: 'b' }, inbound: { listen: '127.0.0.1:0', app: `127.0.0.1:${appPort}` } });
    const a = await sidecar({
      service: { name: 'a' },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: { b: { endpoints: [b.inbound as string] } },
    });
    // Through the caller's own sidecar (the mesh path) and straight at the inbound listener.
    for (const r of [await unary(client(a.outbound as string, 'b'), Buffer.from('x')), await unary(client(b.inbound as string), Buffer.from('x'))]) {
      expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
      expect(r.err?.details).toBe('meshlet: unavailable (ERR_UPSTREAM_CONNECT)');
      expect(r.trailers?.get('x-meshlet-error')).toEqual(['ERR_UPSTREAM_CONNECT']);
      expect(r.err?.details).not.toContain(String(appPort));
      expect(r.err?.details).not.toMatch(/127\.0\.0\.1|ECONN/);
    }
    const logged = accessLines(b).filter((l) => l.direction === 'inbound');
    expect(logged).toHaveLength(2);
    for (const l of logged) {
      expect(l.error_code).toBe('ERR_UPSTREAM_CONNECT');
      expect(l.grpc_message).toBe(`connect to 127.0.0.1:${appPort} failed: ECONNREFUSED`);
    }
  });

  it('a stream cut mid-response on the inbound side ends with a generic message too', async () => {
    const e = await startEcho();
    defer(() => e.close());
    const b = await sidecar({ service: { name: 'b' }, inbound: { listen: '127.0.0.1:0', app: e.address } });
    const md = new grpc.Metadata();
    md.set('stream-count', '2');
    md.set('never-respond', '1');
    const call = client(b.inbound as string).ServerStream(Buffer.from('x'), md);
    call.on('error', () => {});
    let received = 0;
    call.on('data', () => {
      if (++received === 2) e.server.forceShutdown();
    });
    const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(status.details).toBe('meshlet: unavailable (ERR_UPSTREAM_CONNECTION_LOST)');
    const [line] = accessLines(b);
    expect(String(line?.grpc_message)).toContain(e.address);
  });

  it('the local app calling a dead endpoint through its outbound sidecar gets the address and errno', async () => {
    const port = await deadPort();
    const a = await sidecar({
      service: { name: 'a' },
      outbound: { listen: '127.0.0.1:0' },
      upstreams: { dead: { endpoints: [`127.0.0.1:${port}`] } },
    });
    const r = await unary(client(a.outbound as string, 'dead'), Buffer.from('x'));
    expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(r.trailers?.get('x-meshlet-error')).toEqual(['ERR_UPSTREAM_CONNECT']);
    expect(r.err?.details).toBe(`connect to 127.0.0.1:${port} failed: ECONNREFUSED`);
    const [line] = accessLines(a);
    expect(line?.grpc_message).toBe(`connect to 127.0.0.1:${port} failed: ECONNREFUSED`);
  });
});
