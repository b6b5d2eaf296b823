// SPDX-License-Identifier: Apache-2.0
// RFC 9113 §7 (error codes), against meshlet's engine as a server with a raw-frame client: unknown or unexpected
// error codes MUST NOT trigger any special behaviour.

import { describe, expect, it } from 'vitest';
import { ErrorCode, expectIgnored, FrameType, rawFrame, request, responseEnded, u32, useConformance } from './conformance-peer.js';

const start = useConformance();

describe('RFC 9113 §7 error codes', () => {
  it('RST_STREAM with an unknown error code closes just that stream, like any other', async () => {
    const { peer, requests } = await start();
    peer.write(request(peer, 1, false, '/hold'), rawFrame(FrameType.RST_STREAM, 0, 1, u32(0xdead)));
    await expectIgnored(peer);
    expect(requests.get(1)?.closed).toBe(true);
    peer.write(request(peer, 3, true));
    await responseEnded(peer, 3);
  });

  it('GOAWAY with an unknown error code is a GOAWAY: streams in flight complete', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, true));
    const goaway = Buffer.concat([u32(1), u32(0xbeef)]);
    peer.write(rawFrame(FrameType.GOAWAY, 0, 0, goaway));
    await responseEnded(peer, 1);
    expect(peer.frames.some((f) => f.type === FrameType.GOAWAY && f.payload.readUInt32BE(4) !== ErrorCode.NO_ERROR)).toBe(false);
  });
});
