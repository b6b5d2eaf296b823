// SPDX-License-Identifier: Apache-2.0
// RFC 9113 §6 (frame definitions), against meshlet's engine as a server with a raw-frame client: for each frame type
// the stream it must be on, its fixed length, its fields' limits, and the error type for each violation.

import { describe, expect, it } from 'vitest';
import { encodeSettings } from '../../src/h2/frame.js';
import { data, ErrorCode, expectConnectionError, expectIgnored, expectStreamError, Flags, FrameType, rawFrame, request, responseEnded, u32, useConformance } from './conformance-peer.js';

const start = useConformance();

describe('RFC 9113 §6.1 DATA', () => {
  it('DATA on stream 0 is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.DATA, 0, 0, Buffer.alloc(4)));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('padding as long as the payload is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false), rawFrame(FrameType.DATA, Flags.PADDED, 1, Buffer.from([4, 0, 0, 0])));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('padding is removed and counted for flow control', async () => {
    const { peer, requests } = await start();
    peer.write(request(peer, 1, false), rawFrame(FrameType.DATA, Flags.PADDED | Flags.END_STREAM, 1, Buffer.from([2, 7, 7, 7, 0, 0])));
    await responseEnded(peer, 1);
    expect(Buffer.concat(requests.get(1)?.body ?? [])).toEqual(Buffer.from([7, 7, 7]));
  });
});

describe('RFC 9113 §6.2 HEADERS', () => {
  it('HEADERS on stream 0 is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.HEADERS, Flags.END_HEADERS, 0, peer.encoder.encode(['x', '1'])));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('padding longer than the payload is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.HEADERS, Flags.END_HEADERS | Flags.PADDED, 1, Buffer.from([10, 0x82])));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });
});

describe('RFC 9113 §6.3 PRIORITY', () => {
  it('PRIORITY on stream 0 is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.PRIORITY, 0, 0, Buffer.alloc(5)));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('PRIORITY of a length other than 5 is an error FRAME_SIZE_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.PRIORITY, 0, 1, Buffer.alloc(4)));
    await expectConnectionError(peer, ErrorCode.FRAME_SIZE_ERROR);
  });
});

describe('RFC 9113 §6.4 RST_STREAM', () => {
  it('RST_STREAM on stream 0 is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.RST_STREAM, 0, 0, u32(ErrorCode.CANCEL)));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('RST_STREAM of a length other than 4 is a connection error FRAME_SIZE_ERROR', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false, '/hold'), rawFrame(FrameType.RST_STREAM, 0, 1, Buffer.alloc(3)));
    await expectConnectionError(peer, ErrorCode.FRAME_SIZE_ERROR);
  });

  it('RST_STREAM closes the stream: the app sees it closed', async () => {
    const { peer, requests } = await start();
    peer.write(request(peer, 1, false, '/hold'), rawFrame(FrameType.RST_STREAM, 0, 1, u32(ErrorCode.CANCEL)));
    await expectIgnored(peer);
    expect(requests.get(1)?.closed).toBe(true);
  });
});

describe('RFC 9113 §6.5 SETTINGS', () => {
  it('SETTINGS is acknowledged', async () => {
    const { peer } = await start();
    const acks = () => peer.frames.filter((f) => f.type === FrameType.SETTINGS && (f.flags & Flags.ACK) !== 0).length;
    await expectIgnored(peer); // the ACK of the handshake's SETTINGS is in
    const before = acks();
    peer.write(encodeSettings([[0x4, 100_000]]));
    await expectIgnored(peer);
    expect(acks()).toBe(before + 1);
  });

  it('SETTINGS on a stream is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.SETTINGS, 0, 1, Buffer.alloc(0)));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('a SETTINGS ACK with a payload is a connection error FRAME_SIZE_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.SETTINGS, Flags.ACK, 0, Buffer.alloc(6)));
    await expectConnectionError(peer, ErrorCode.FRAME_SIZE_ERROR);
  });

  it('a SETTINGS length that is not a multiple of 6 is a connection error FRAME_SIZE_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5)));
    await expectConnectionError(peer, ErrorCode.FRAME_SIZE_ERROR);
  });

  it('SETTINGS_ENABLE_PUSH other than 0 or 1 is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(encodeSettings([[0x2, 2]]));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 is a connection error FLOW_CONTROL_ERROR', async () => {
    const { peer } = await start();
    peer.write(encodeSettings([[0x4, 0x80000000]]));
    await expectConnectionError(peer, ErrorCode.FLOW_CONTROL_ERROR);
  });

  it('SETTINGS_MAX_FRAME_SIZE below 16384 is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(encodeSettings([[0x5, 16_383]]));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('SETTINGS_MAX_FRAME_SIZE above 2^24-1 is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(encodeSettings([[0x5, 16_777_216]]));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('an unknown setting is ignored', async () => {
    const { peer } = await start();
    peer.write(encodeSettings([[0xff, 1]]));
    await expectIgnored(peer);
  });
});

describe('RFC 9113 §6.7 PING', () => {
  it('PING is answered with an ACK carrying the same payload, and a PING ACK is not answered', async () => {
    const { peer } = await start();
    const payload = Buffer.from('12345678');
    peer.write(rawFrame(FrameType.PING, 0, 0, payload), rawFrame(FrameType.PING, Flags.ACK, 0, Buffer.from('87654321')));
    const ack = await peer.waitFrame((f) => f.type === FrameType.PING && (f.flags & Flags.ACK) !== 0);
    expect(ack.payload).toEqual(payload);
    await expectIgnored(peer);
    expect(peer.frames.some((f) => f.type === FrameType.PING && f.payload.toString() === '87654321')).toBe(false);
  });

  it('PING on a stream is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.PING, 0, 1, Buffer.alloc(8)));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('PING of a length other than 8 is a connection error FRAME_SIZE_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.PING, 0, 0, Buffer.alloc(7)));
    await expectConnectionError(peer, ErrorCode.FRAME_SIZE_ERROR);
  });
});

describe('RFC 9113 §6.8 GOAWAY', () => {
  it('GOAWAY on a stream is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.GOAWAY, 0, 1, Buffer.alloc(8)));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('after the client\'s GOAWAY, streams in flight still complete', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false), rawFrame(FrameType.GOAWAY, 0, 0, Buffer.alloc(8)), data(1, true));
    await responseEnded(peer, 1);
  });
});

describe('RFC 9113 §6.9 WINDOW_UPDATE', () => {
  it('an increment of 0 on the connection is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.WINDOW_UPDATE, 0, 0, u32(0)));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('an increment of 0 on a stream is a stream error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false, '/hold'), rawFrame(FrameType.WINDOW_UPDATE, 0, 1, u32(0)));
    await expectStreamError(peer, 1, ErrorCode.PROTOCOL_ERROR);
  });

  it('WINDOW_UPDATE of a length other than 4 is a connection error FRAME_SIZE_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(3)));
    await expectConnectionError(peer, ErrorCode.FRAME_SIZE_ERROR);
  });

  it('a stream window past 2^31-1 is a stream error FLOW_CONTROL_ERROR', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false, '/hold'), rawFrame(FrameType.WINDOW_UPDATE, 0, 1, u32(0x7fffffff)));
    await expectStreamError(peer, 1, ErrorCode.FLOW_CONTROL_ERROR);
  });
});

describe('RFC 9113 §6.10 CONTINUATION', () => {
  it('CONTINUATION without a HEADERS before it is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, peer.encoder.encode(['x', '1'])));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('CONTINUATION after a HEADERS with END_HEADERS is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false, '/hold'), rawFrame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, Buffer.alloc(0)));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });

  it('CONTINUATION on stream 0 is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(rawFrame(FrameType.CONTINUATION, Flags.END_HEADERS, 0, Buffer.alloc(0)));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });
});

describe('RFC 9113 §6.6 / §8.4 PUSH_PROMISE', () => {
  it('PUSH_PROMISE from a client is a connection error PROTOCOL_ERROR', async () => {
    const { peer } = await start();
    peer.write(request(peer, 1, false, '/hold'), rawFrame(FrameType.PUSH_PROMISE, Flags.END_HEADERS, 1, u32(2)));
    await expectConnectionError(peer, ErrorCode.PROTOCOL_ERROR);
  });
});
