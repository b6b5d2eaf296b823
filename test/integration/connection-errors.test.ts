// SPDX-License-Identifier: Apache-2.0
// A downstream connection that breaks HTTP/2 is closed with a GOAWAY naming the error, counted in
// meshlet_connection_errors_total{direction, reason} and logged as a warning; a peer that disconnects with a call
// in flight is counted as `disconnected` (debug log only). Calls on other connections are untouched.

import { once } from 'node:events';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { CONNECTION_PREFACE, encodeHeaders, encodeSettings, ErrorCode, FrameType } from '../../src/h2/frame.js';
import { HpackEncoder } from '../../src/h2/hpack/encoder.js';
import { useCleanup } from '../helpers/cleanup.js';
import { echoClient, startEcho, unary } from '../helpers/echo.js';
import { type Exposition, scrape } from '../helpers/prom-text.js';
import { startSidecar } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';

const defer = useCleanup();

async function inboundSidecar() {
  const echo = await startEcho();
  defer(() => echo.close());
  const s = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: echo.address } });
  defer(() => s.close());
  return s;
}

function rawConnect(address: string): Promise<net.Socket> {
  const [host, port] = address.split(':');
  const socket = net.connect({ host, port: Number(port) });
  defer(() => socket.destroy());
  socket.on('error', () => {});
  return once(socket, 'connect').then(() => socket);
}

/** Everything the server sends until it closes the socket. */
async function readToEnd(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'close');
  return Buffer.concat(chunks);
}

/** Scrapes /metrics until `ok` holds (one scrape at a time), failing with `label` after 5 s. */
async function metricBecomes(admin: string, ok: (m: Exposition) => boolean, label: string): Promise<void> {
  const deadline = performance.now() + 5000;
  for (;;) {
    if (ok(await scrape(admin))) return;
    if (performance.now() > deadline) throw new Error(`timed out waiting for: ${label}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('downstream connection errors', () => {
  it('an HTTP/1.1 request gets GOAWAY PROTOCOL_ERROR, a counter and a warning; other calls still work', async () => {
    const s = await inboundSidecar();
    const socket = await rawConnect(s.inbound as string);
    const received = readToEnd(socket);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const bytes = await received;
    // The server's SETTINGS, then GOAWAY (type 7) with PROTOCOL_ERROR in its payload's second word.
    const goawayAt = bytes.indexOf(Buffer.from([FrameType.GOAWAY, 0, 0, 0, 0, 0]), 3) - 3;
    expect(goawayAt).toBeGreaterThan(0);
    expect(bytes.readUInt32BE(goawayAt + 9 + 4)).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(bytes.subarray(goawayAt + 17).toString()).toMatch(/HTTP\/1/);

    await waitUntil(() => s.logs.some((l) => l.msg === 'downstream connection closed: the peer broke the HTTP/2 protocol or a flood limit'), 'warning logged');
    const line = s.logs.find((l) => l.reason === 'protocol_error');
    expect(line).toMatchObject({ level: 'warn', direction: 'inbound', reason: 'protocol_error' });
    const m = await scrape(s.admin);
    expect(m.value('meshlet_connection_errors_total', { direction: 'inbound', reason: 'protocol_error' })).toBe(1);

    const client = echoClient(s.inbound as string);
    defer(() => client.close());
    const r = await unary(client, Buffer.from('still fine'));
    expect(r.err).toBeNull();
    expect(r.response?.toString()).toBe('still fine');
  });

  it('a peer that disconnects with a call in flight is counted as disconnected', async () => {
    const s = await inboundSidecar();
    const socket = await rawConnect(s.inbound as string);
    const enc = new HpackEncoder();
    const request = [':method', 'POST', ':scheme', 'http', ':authority', 'echo', ':path', '/test.Echo/Unary', 'content-type', 'application/grpc', 'te', 'trailers'];
    // A request whose body never ends, then the socket is gone.
    socket.write(Buffer.concat([CONNECTION_PREFACE, encodeSettings([]), encodeHeaders(1, enc.encode(request), false, 16384)]));
    await metricBecomes(s.admin, (m) => m.sum('meshlet_calls_in_flight', { direction: 'inbound' }) === 1, 'call in flight');
    socket.destroy();
    await metricBecomes(s.admin, (m) => m.value('meshlet_connection_errors_total', { direction: 'inbound', reason: 'disconnected' }) === 1, 'disconnect counted');
    expect(s.logs.some((l) => l.reason === 'disconnected' && l.level === 'warn')).toBe(false);
  });
});
