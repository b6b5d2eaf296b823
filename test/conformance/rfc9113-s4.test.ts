// SPDX-License-Identifier: Apache-2.0
// RFC 9113 §4 (HTTP frames), against meshlet's engine as a server with a raw-frame client: frame format (§4.1),
// frame size (§4.2) and field section compression (§4.3), each MUST with the error type the RFC gives it.

import { describe, expect, it } from 'vitest';
import { data, ErrorCode, expectConnectionError, expectIgnored, Flags, FrameType, rawFrame, request, responseEnded, useConformance } from './conformance-peer.js';

const start = useConformance();

describe('RFC 9113 §4.1 frame format', () => {
  it('a frame of an unknown type is ignored', async () => {
    const { peer } = await start();
    peer.write(rawFrame(0xfa, 0, 0, Buffer.from('hello')), rawFrame(0xfb, 0xff, 1, Buffer.alloc(3)));
    await expectIgnored(peer);
  });

  it('flags a frame type does not define are ignored', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false), rawFrame(FrameType.DATA, Flags.END_STREAM | 0x10 | 0x40, 1, Buffer.alloc(5)));
    await responseEnded(peer, 1);
  });

  it('the reserved bit of the stream id is ignored on receipt', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false), data(1, true).fill(0x80, 5, 6));
    await responseEnded(peer, 1);
  });
});

describe('RFC 9113 §4.2 frame size', () => {
  it('a frame larger than SETTINGS_MAX_FRAME_SIZE (16384 by default) is a connection error FRAME_SIZE_ERROR', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false), data(1, false, Buffer.alloc(16_385)));
    await expectConnectionError(peer, ErrorCode.FRAME_SIZE_ERROR);
  });

  it('a frame of exactly SETTINGS_MAX_FRAME_SIZE is accepted', async () => {
    const { peer, requests } = await start();
    peer.write(request(peer, 1, false), data(1, true, Buffer.alloc(16_384)));
    await responseEnded(peer, 1);
    expect(Buffer.concat(requests.get(1)?.body ?? []).length).toBe(16_384);
  });
});

describe('RFC 9113 §4.3 field section compression', () => {
  it('a field block that cannot be decoded is a connection error COMPRESSION_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, Buffer.from([0x80])));
    await expectConnectionError(peer, ErrorCode.COMPRESSION_ERROR);
  });

  it('a field block is HEADERS then CONTINUATION frames only: any other frame between is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    const block = peer.encoder.encode(['x-a', 'b']);
    peer.write(rawFrame(FrameType.HEADERS, 0, 1, block), rawFrame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('CONTINUATION on another stream than its HEADERS is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.HEADERS, 0, 1, peer.encoder.encode([':method', 'POST'])), rawFrame(FrameType.CONTINUATION, Flags.END_HEADERS, 3, Buffer.alloc(0)));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('a field block split over HEADERS and CONTINUATION frames is decoded as one', async () => {
    const { peer, requests } = await start();
    const block = peer.encoder.encode([':method', 'POST', ':scheme', 'http', ':authority', 'a', ':path', '/svc/M', 'x-long', 'v'.repeat(100)]);
    peer.write(
      rawFrame(FrameType.HEADERS, Flags.END_STREAM, 1, block.subarray(0, 10)),
      rawFrame(FrameType.CONTINUATION, 0, 1, block.subarray(10, 50)),
      rawFrame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, block.subarray(50)),
    );
    await responseEnded(peer, 1);
    expect(requests.get(1)?.headers['x-long']).toBe('v'.repeat(100));
  });
});
