// SPDX-License-Identifier: Apache-2.0
// RFC 9113 §8 (expressing HTTP semantics), against meshlet's engine as a server with a raw-frame client: a malformed
// request (§8.1.1) is a stream error PROTOCOL_ERROR and never reaches the app: bad field names and values (§8.2.1),
// connection-specific fields (§8.2.2), pseudo-header rules (§8.3), content-length that the DATA contradicts
// (§8.1.1), trailers that do not end the stream (§8.1). Regression tests for issue #14.

import { describe, expect, it } from 'vitest';
import { data, ErrorCode, expectStreamError, Flags, FrameType, rawFrame, request, responseEnded, useConformance } from './conformance-peer.js';

const start = useConformance();

const BASE = [':method', 'POST', ':scheme', 'http', ':authority', 'localhost', ':path', '/svc/M'];

describe('RFC 9113 §8.2-8.3 malformed requests are stream errors PROTOCOL_ERROR and never reach the app', () => {
  const malformed: Array<[string, string[]]> = [
    ['an upper-case field name (§8.2)', [...BASE, 'X-Upper', '1']],
    ['a field name with a space (§8.2.1)', [...BASE, 'x y', '1']],
    ['a field value with NUL (§8.2.1)', [...BASE, 'x-v', 'a\u0000b']],
    ['a field value with CR (§8.2.1)', [...BASE, 'x-v', 'a\rb']],
    ['a field value with LF (§8.2.1)', [...BASE, 'x-v', 'a\nb']],
    ['a field value with a leading space (§8.2.1)', [...BASE, 'x-v', ' a']],
    ['a connection-specific field (§8.2.2)', [...BASE, 'connection', 'keep-alive']],
    ['transfer-encoding (§8.2.2)', [...BASE, 'transfer-encoding', 'chunked']],
    ['TE other than "trailers" (§8.2.2)', [...BASE, 'te', 'gzip']],
    ['an unknown pseudo-header (§8.3)', [...BASE, ':foo', 'bar']],
    ['a response pseudo-header in a request (§8.3)', [':status', '200', ...BASE]],
    ['a pseudo-header after a regular field (§8.3)', [':method', 'POST', 'x-a', '1', ':scheme', 'http', ':path', '/']],
    ['a repeated pseudo-header (§8.3)', [...BASE, ':path', '/other']],
    ['no :method (§8.3.1)', BASE.slice(2)],
    ['no :scheme (§8.3.1)', [':method', 'POST', ':authority', 'a', ':path', '/']],
    ['no :path (§8.3.1)', [':method', 'POST', ':scheme', 'http', ':authority', 'a']],
    ['an empty :path (§8.3.1)', [':method', 'POST', ':scheme', 'http', ':path', '']],
    ['a content-length that is not a number (§8.1.1)', [...BASE, 'content-length', 'ten']],
    ['END_STREAM on HEADERS with a non-zero content-length (§8.1.1)', [...BASE, 'content-length', '5']],
  ];
  it.each(malformed)('%s', async (_name, list) => {
    const { peer, requests } = await start();
    peer.write(peer.headers(1, list, true));
    await expectStreamError(peer, 1, ErrorCode.PROTOCOL_ERROR);
    expect(requests.size).toBe(0);
  });
});

describe('RFC 9113 §8.1 messages', () => {
  it('trailers (a second HEADERS) without END_STREAM are a stream error PROTOCOL_ERROR', async () => {
    const { peer, requests } = await start();
    peer.write(request(peer, 1, false, '/hold'), peer.headers(1, ['x-trailer', '1'], false));
    await expectStreamError(peer, 1, ErrorCode.PROTOCOL_ERROR);
    expect(requests.get(1)?.ended).toBe(false);
  });

  it('trailers with a pseudo-header are a stream error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false, '/hold'), peer.headers(1, [':path', '/x'], true));
    await expectStreamError(peer, 1, ErrorCode.PROTOCOL_ERROR);
  });

  it('trailers that end the stream are delivered, and the request completes', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false), data(1, false), peer.headers(1, ['x-trailer', '1'], true));
    await responseEnded(peer, 1);
  });
});

describe('RFC 9113 §8.1.1 content-length', () => {
  it('more DATA than content-length is a stream error PROTOCOL_ERROR, and the extra is not forwarded', async () => {
    const { peer, requests } = await start();
    peer.write(request(peer, 1, false, '/svc/M', ['content-length', '5']), data(1, false, Buffer.alloc(3)), data(1, true, Buffer.alloc(3)));
    await expectStreamError(peer, 1, ErrorCode.PROTOCOL_ERROR);
    const req = requests.get(1);
    expect(Buffer.concat(req?.body ?? []).length).toBe(3);
    expect(req?.ended).toBe(false);
    expect(req?.closed).toBe(true);
  });

  it('END_STREAM before content-length bytes arrived is a stream error PROTOCOL_ERROR; the app never sees an end', async () => {
    const { peer, requests } = await start();
    peer.write(request(peer, 1, false, '/svc/M', ['content-length', '10']), data(1, true, Buffer.alloc(5)));
    await expectStreamError(peer, 1, ErrorCode.PROTOCOL_ERROR);
    expect(requests.get(1)?.ended).toBe(false);
  });

  it('trailers before content-length bytes arrived are a stream error PROTOCOL_ERROR', async () => {
    const { peer, requests } = await start();
    peer.write(request(peer, 1, false, '/svc/M', ['content-length', '10']), data(1, false, Buffer.alloc(5)), peer.headers(1, ['x-t', '1'], true));
    await expectStreamError(peer, 1, ErrorCode.PROTOCOL_ERROR);
    expect(requests.get(1)?.ended).toBe(false);
  });

  it('DATA that adds up to content-length is served', async () => {
    const { peer, requests } = await start();
    peer.write(request(peer, 1, false, '/svc/M', ['content-length', '10']), data(1, false, Buffer.alloc(4)), data(1, true, Buffer.alloc(6)));
    await responseEnded(peer, 1);
    expect(Buffer.concat(requests.get(1)?.body ?? []).length).toBe(10);
    expect(peer.frames.some((f) => f.type === FrameType.RST_STREAM && f.streamId === 1 && f.payload.readUInt32BE(0) !== 0)).toBe(false);
  });

  it('content-length 0 with END_STREAM on HEADERS is served', async () => {
    const { peer } = await start();
    peer.write(peer.headers(1, [...BASE, 'content-length', '0'], true));
    await responseEnded(peer, 1);
  });

  it('padding does not count toward content-length', async () => {
    const { peer } = await start();
    const padded = rawFrame(FrameType.DATA, Flags.PADDED | Flags.END_STREAM, 1, Buffer.from([3, 9, 9, 0, 0, 0]));
    peer.write(request(peer, 1, false, '/svc/M', ['content-length', '2']), padded);
    await responseEnded(peer, 1);
  });
});
