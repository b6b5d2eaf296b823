// SPDX-License-Identifier: Apache-2.0
// RFC 9113 §5 (streams and multiplexing), against meshlet's engine as a server with a raw-frame client: each MUST
// of §5.1 (stream states), §5.1.1 (stream ids), §5.1.2 (concurrency), §5.2 (flow control), §5.3.1 (self
// dependency) and §5.4 (error handling), with the error type the RFC gives it. Regression tests for issue #14.

import { describe, expect, it } from 'vitest';
import { pingBarrier } from '../helpers/h2-peers.js';
import {
  data,
  ErrorCode,
  expectConnectionError,
  expectIgnored,
  expectStreamError,
  Flags,
  FrameType,
  rawFrame,
  request,
  requestList,
  responseEnded,
  u32,
  useConformance,
} from './conformance-peer.js';

const start = useConformance();

describe('RFC 9113 §5.1 stream states', () => {
  it('idle: DATA on a stream never opened is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(data(1, true));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('idle: RST_STREAM on a stream never opened is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.RST_STREAM, 0, 1, u32(ErrorCode.CANCEL)));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('idle: WINDOW_UPDATE on a stream never opened is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.WINDOW_UPDATE, 0, 1, u32(100)));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('idle: PRIORITY is allowed and does not open the stream', async () => {
    const { peer, requests } = await start();
    peer.write(rawFrame(FrameType.PRIORITY, 0, 3, Buffer.from([0, 0, 0, 0, 15])));
    await expectIgnored(peer, 3);
    peer.write(request(peer, 3, true));
    await responseEnded(peer, 3);
    expect(requests.has(3)).toBe(true);
  });

  it('half-closed (remote): DATA is a stream error STREAM_CLOSED', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, true, '/hold'));
    peer.write(data(1, false));
    await expectStreamError(peer, 1, ErrorCode.STREAM_CLOSED);
  });

  it('half-closed (remote): HEADERS is a stream error STREAM_CLOSED', async () => {
    const { peer, requests } = await start();
    peer.write(request(peer, 1, true, '/hold'));
    peer.write(peer.headers(1, ['x-late', '1'], true));
    await expectStreamError(peer, 1, ErrorCode.STREAM_CLOSED);
    expect(requests.get(1)?.closed).toBe(true);
  });

  it('half-closed (remote): WINDOW_UPDATE and PRIORITY are allowed', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, true, '/hold'));
    peer.write(rawFrame(FrameType.WINDOW_UPDATE, 0, 1, u32(1000)), rawFrame(FrameType.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 15])));
    await expectIgnored(peer, 1);
  });

  it('closed after the client\'s RST_STREAM: DATA is a stream error STREAM_CLOSED', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false, '/hold'));
    peer.write(rawFrame(FrameType.RST_STREAM, 0, 1, u32(ErrorCode.CANCEL)));
    peer.write(data(1, false));
    await expectStreamError(peer, 1, ErrorCode.STREAM_CLOSED);
  });

  it('closed after the client\'s RST_STREAM: HEADERS is a connection error STREAM_CLOSED', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false, '/hold'));
    peer.write(rawFrame(FrameType.RST_STREAM, 0, 1, u32(ErrorCode.CANCEL)));
    peer.write(peer.headers(1, ['x-late', '1'], true));
    await expectConnectionError(peer, ErrorCode.STREAM_CLOSED);
  });

  it('closed by END_STREAM both ways: DATA is a stream error STREAM_CLOSED', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false), data(1, true));
    await responseEnded(peer, 1);
    peer.write(data(1, false));
    await expectStreamError(peer, 1, ErrorCode.STREAM_CLOSED);
  });

  it('closed by END_STREAM both ways: HEADERS is a connection error STREAM_CLOSED', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, true));
    await responseEnded(peer, 1);
    peer.write(peer.headers(1, ['x-late', '1'], true));
    await expectConnectionError(peer, ErrorCode.STREAM_CLOSED);
  });

  it('closed: WINDOW_UPDATE, RST_STREAM and PRIORITY that cross the close are ignored', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, true));
    await responseEnded(peer, 1);
    peer.write(
      rawFrame(FrameType.WINDOW_UPDATE, 0, 1, u32(1000)),
      rawFrame(FrameType.RST_STREAM, 0, 1, u32(ErrorCode.CANCEL)),
      rawFrame(FrameType.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 15])),
    );
    await expectIgnored(peer, 1);
  });

  it('closed by our RST_STREAM: frames in flight are ignored (REFUSED_STREAM, then DATA)', async () => {
    const { peer, requests } = await start({ maxConcurrentStreams: 1 });
    peer.write(request(peer, 1, false, '/hold'), request(peer, 3, false));
    await peer.waitFrame((f) => f.type === FrameType.RST_STREAM && f.streamId === 3);
    peer.write(data(3, true));
    await expectIgnored(peer);
    expect(peer.frames.filter((f) => f.type === FrameType.RST_STREAM && f.streamId === 3)).toHaveLength(1);
    expect(requests.has(3)).toBe(false);
  });
});

describe('RFC 9113 §5.1.1 stream identifiers', () => {
  it('a client stream with an even id is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(request(peer, 2, true));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('a new stream id smaller than one already opened is a connection error PROTOCOL_ERROR', async () => {
    const { peer, requests } = await start();
    peer.write(request(peer, 5, false, '/hold'));
    await pingBarrier(peer, 1);
    peer.write(request(peer, 3, true));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
    expect(requests.has(3)).toBe(false);
  });

  it('ids skipped by a higher one are closed: DATA on one is a stream error STREAM_CLOSED', async () => {
    const { peer } = await start();
    peer.write(request(peer, 5, false, '/hold'));
    peer.write(data(3, false));
    await expectStreamError(peer, 3, ErrorCode.STREAM_CLOSED);
  });
});

describe('RFC 9113 §5.1.2 stream concurrency', () => {
  it('streams over the advertised SETTINGS_MAX_CONCURRENT_STREAMS are refused with REFUSED_STREAM', async () => {
    const { peer, requests } = await start({ maxConcurrentStreams: 2 });
    const settings = peer.frames.find((f) => f.type === FrameType.SETTINGS && (f.flags & Flags.ACK) === 0);
    const values = new Map<number, number>();
    for (let i = 0; i + 6 <= (settings?.payload.length ?? 0); i += 6) values.set(settings!.payload.readUInt16BE(i), settings!.payload.readUInt32BE(i + 2));
    expect(values.get(0x3)).toBe(2);
    peer.write(request(peer, 1, false, '/hold'), request(peer, 3, false, '/hold'), request(peer, 5, false, '/hold'));
    await expectStreamError(peer, 5, ErrorCode.REFUSED_STREAM);
    expect([...requests.keys()]).toEqual([1, 3]);
  });
});

describe('RFC 9113 §5.2 flow control', () => {
  it('DATA beyond the stream window is a stream error FLOW_CONTROL_ERROR', async () => {
    const { peer } = await start({ streamWindowBytes: 65_535 });
    peer.write(request(peer, 1, false, '/paused'));
    const chunk = Buffer.alloc(16_384);
    peer.write(data(1, false, chunk), data(1, false, chunk), data(1, false, chunk), data(1, false, chunk), data(1, false, chunk));
    await expectStreamError(peer, 1, ErrorCode.FLOW_CONTROL_ERROR);
  });

  it('a WINDOW_UPDATE that takes the connection window past 2^31-1 is a connection error FLOW_CONTROL_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.WINDOW_UPDATE, 0, 0, u32(0x7fffffff)));
    await expectConnectionError(peer, ErrorCode.FLOW_CONTROL_ERROR);
  });
});

describe('RFC 9113 §5.3.1 stream dependencies', () => {
  it('HEADERS that make a new stream depend on itself are a stream error PROTOCOL_ERROR, not forwarded', async () => {
    const { peer, requests } = await start();
    const block = peer.encoder.encode(requestList());
    peer.write(rawFrame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM | Flags.PRIORITY, 1, Buffer.concat([u32(1), Buffer.from([15]), block])));
    await expectStreamError(peer, 1, ErrorCode.PROTOCOL_ERROR);
    expect(requests.has(1)).toBe(false);
    // HPACK stayed in sync: the next request decodes and is served.
    peer.write(request(peer, 3, true));
    await responseEnded(peer, 3);
  });

  it('HEADERS depending on another stream are accepted', async () => {
    const { peer } = await start();
    const block = peer.encoder.encode(requestList());
    peer.write(rawFrame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM | Flags.PRIORITY, 1, Buffer.concat([u32(0), Buffer.from([15]), block])));
    await responseEnded(peer, 1);
  });

  it('a PRIORITY frame that makes a stream depend on itself is a stream error PROTOCOL_ERROR', async () => {
    const { peer, requests } = await start();
    peer.write(request(peer, 1, false, '/hold'));
    peer.write(rawFrame(FrameType.PRIORITY, 0, 1, Buffer.concat([u32(1), Buffer.from([15])])));
    await expectStreamError(peer, 1, ErrorCode.PROTOCOL_ERROR);
    expect(requests.get(1)?.closed).toBe(true);
  });
});

describe('RFC 9113 §5.4 error handling', () => {
  it('a connection error sends GOAWAY with the last stream id processed, then closes the connection', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false, '/hold'));
    await pingBarrier(peer, 2);
    peer.write(rawFrame(FrameType.PING, 0, 1, Buffer.alloc(8)));
    const goaway = await peer.waitFrame((f) => f.type === FrameType.GOAWAY);
    expect(goaway.payload.readUInt32BE(0) & 0x7fffffff).toBe(1);
    expect(goaway.payload.readUInt32BE(4)).toBe(ErrorCode.PROTOCOL_ERROR);
    await peer.waitClosed();
  });

  it('a stream error resets only that stream; others continue', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false), request(peer, 3, true, '/hold'));
    peer.write(rawFrame(FrameType.WINDOW_UPDATE, 0, 3, u32(0)));
    await expectStreamError(peer, 3, ErrorCode.PROTOCOL_ERROR);
    peer.write(data(1, true));
    await responseEnded(peer, 1);
  });
});
