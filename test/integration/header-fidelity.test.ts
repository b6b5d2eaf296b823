// SPDX-License-Identifier: Apache-2.0
// Header blocks cross meshlet as they arrived: a received block is forwarded as its decoded list (h2/headers.ts),
// so repeated fields keep their interleaved order, never-indexed fields stay never-indexed (RFC 7541 §7.1.3), and
// the edits a layer makes (grpc-timeout) replace the field they name and nothing else. Request, response headers
// and trailers, through one sidecar and through two. Both ends run meshlet's engine, which can send any field order
// (node:http2 groups repeated names) and shows the order that arrived (headerBlockOf of a received block).

import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http2';
import { sensitiveHeaders } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeaderBlock, headerBlockOf } from '../../src/h2/headers.js';
import type { H2Stream } from '../../src/h2/stream.js';
import { splitHostPort } from '../../src/net/address.js';
import { connectEngine, startEngineServer, Tracker } from '../helpers/h2-peers.js';
import { startMeshPaths, type MeshPaths, type Sidecar } from '../helpers/sidecar.js';

/** Interleaved repeats of a name around another: a relay that regroups by name sends x-a, x-a, x-b. */
const interleaved = (prefix: string): string[] => [`${prefix}-a`, '1', `${prefix}-b`, '2', `${prefix}-a`, '3'];

/** The fields named `prefix-*` in a received block, in the order they arrived. */
function fields(headers: IncomingHttpHeaders, prefix: string): string[] {
  const { list } = headerBlockOf(headers);
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) if ((list[i] as string).startsWith(`${prefix}-`)) out.push(list[i] as string, list[i + 1] as string);
  return out;
}

const t = new Tracker();
const seen: IncomingHttpHeaders[] = [];
let appPort = 0;
let paths: MeshPaths | undefined;
let one: Sidecar;
let caller: Sidecar;

beforeAll(async () => {
  const app = await startEngineServer(t, (stream: H2Stream, headers: IncomingHttpHeaders) => {
    // The sidecars' own health checks of the app come here too: only the test's calls are recorded.
    if (headers[':path'] === '/test.Echo/Unary') seen.push(headers);
    stream.on('data', () => {});
    stream.on('end', () => {
      stream.respond(new HeaderBlock([':status', '200', 'content-type', 'application/grpc', ...interleaved('r')], undefined));
      stream.write(Buffer.from([0, 0, 0, 0, 0]));
      stream.sendTrailers(new HeaderBlock(['grpc-status', '0', ...interleaved('t')], ['t-b']));
    });
  });
  appPort = app.port;
  const appAddress = `127.0.0.1:${appPort}`;
  paths = await startMeshPaths(appAddress);
  ({ one, caller } = paths);
});

afterAll(async () => {
  await paths?.close();
  await t.closeAll();
});

describe('header blocks are forwarded as they arrived', () => {
  it.each([
    ['one sidecar', () => one.inbound as string],
    ['two sidecars', () => caller.outbound as string],
  ] as const)('%s', async (_name, address) => {
    seen.length = 0;
    const conn = await connectEngine(t, splitHostPort(address()).port);
    const request = [':method', 'POST', ':scheme', 'http', ':path', '/test.Echo/Unary', ':authority', 'echo', 'content-type', 'application/grpc', 'te', 'trailers'];
    const stream = conn.request(new HeaderBlock([...request, ...interleaved('q'), 'grpc-timeout', '5S', 'secret', 's3cr3t'], ['secret']));
    let response: IncomingHttpHeaders | undefined;
    let trailers: IncomingHttpHeaders | undefined;
    stream.on('response', (h: IncomingHttpHeaders) => (response = h));
    stream.on('trailers', (h: IncomingHttpHeaders) => (trailers = h));
    stream.on('data', () => {});
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
    await once(stream, 'close');
    expect(stream.rstCode).toBe(0);

    expect(seen).toHaveLength(1);
    const up = seen[0] as IncomingHttpHeaders;
    expect(fields(up, 'q')).toEqual(interleaved('q'));
    expect((up as Record<symbol, unknown>)[sensitiveHeaders]).toEqual(['secret']);
    expect(up.secret).toBe('s3cr3t');
    // The one edit on this path: meshlet re-emits what is left of the deadline, once, in place of the client's.
    const timeouts = headerBlockOf(up).list.filter((_v, i, l) => i % 2 === 1 && l[i - 1] === 'grpc-timeout');
    expect(timeouts).toHaveLength(1);
    expect(timeouts[0]).toMatch(/^[0-9]{1,8}[mu]$/);

    expect(fields(response as IncomingHttpHeaders, 'r')).toEqual(interleaved('r'));
    expect(fields(trailers as IncomingHttpHeaders, 't')).toEqual(interleaved('t'));
    expect((trailers as Record<symbol, unknown>)[sensitiveHeaders]).toEqual(['t-b']);
  });
});
