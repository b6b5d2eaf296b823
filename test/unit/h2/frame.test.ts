// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import {
  CONNECTION_PREFACE,
  DEFAULT_SETTINGS,
  ErrorCode,
  FrameError,
  SettingId,
  encodeDataHeader,
  encodeGoaway,
  encodeHeaders,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeSettingsAck,
  encodeWindowUpdate,
  parseSettings,
  type Settings,
} from '../../../src/h2/frame.js';

const hex = (b: Buffer): string => b.toString('hex');
const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function settingsOf(s: string): { into: Settings; ids: number[] } {
  const payload = h(s);
  const into: Settings = { ...DEFAULT_SETTINGS };
  const ids = parseSettings(payload, 0, payload.length, into);
  return { into, ids };
}

function frameErrorOf(fn: () => unknown): FrameError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FrameError);
    return err as FrameError;
  }
  throw new Error('expected a FrameError');
}

describe('frame constants', () => {
  it('has the 24-byte client connection preface', () => {
    expect(CONNECTION_PREFACE.toString('latin1')).toBe('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    expect(CONNECTION_PREFACE.length).toBe(24);
  });

  it('has the RFC 9113 default settings, frozen', () => {
    expect(DEFAULT_SETTINGS).toEqual({
      headerTableSize: 4096,
      enablePush: true,
      maxConcurrentStreams: Infinity,
      initialWindowSize: 65535,
      maxFrameSize: 16384,
      maxHeaderListSize: Infinity,
    });
    expect(Object.isFrozen(DEFAULT_SETTINGS)).toBe(true);
  });
});

describe('encoders', () => {
  it('encodes SETTINGS with every pair in order', () => {
    const buf = encodeSettings([
      [SettingId.ENABLE_PUSH, 0],
      [SettingId.INITIAL_WINDOW_SIZE, 0x7fffffff],
      [SettingId.MAX_FRAME_SIZE, 16777215],
    ]);
    expect(hex(buf)).toBe(hex(h('000012 04 00 00000000  0002 00000000  0004 7fffffff  0005 00ffffff')));
  });

  it('encodes an empty SETTINGS frame', () => {
    expect(hex(encodeSettings([]))).toBe('000000040000000000');
  });

  it('encodes the SETTINGS ACK', () => {
    expect(hex(encodeSettingsAck())).toBe('000000040100000000');
  });

  it('encodes PING with and without ACK, copying the 8 bytes', () => {
    const data = h('0102030405060708');
    expect(hex(encodePing(data, false))).toBe(hex(h('000008 06 00 00000000 0102030405060708')));
    expect(hex(encodePing(data, true))).toBe(hex(h('000008 06 01 00000000 0102030405060708')));
  });

  it('rejects a PING payload that is not 8 bytes', () => {
    expect(() => encodePing(Buffer.alloc(7), false)).toThrow(RangeError);
  });

  it('encodes GOAWAY without and with debug data', () => {
    expect(hex(encodeGoaway(0x7fffffff, ErrorCode.NO_ERROR))).toBe(hex(h('000008 07 00 00000000 7fffffff 00000000')));
    expect(hex(encodeGoaway(5, ErrorCode.ENHANCE_YOUR_CALM, 'hi'))).toBe(
      hex(h('00000a 07 00 00000000 00000005 0000000b 6869')),
    );
    expect(hex(encodeGoaway(1, ErrorCode.PROTOCOL_ERROR, 'é'))).toBe(hex(h('00000a 07 00 00000000 00000001 00000001 c3a9')));
  });

  it('encodes WINDOW_UPDATE for the connection and a stream', () => {
    expect(hex(encodeWindowUpdate(0, 0x7fffffff))).toBe(hex(h('000004 08 00 00000000 7fffffff')));
    expect(hex(encodeWindowUpdate(3, 65535))).toBe(hex(h('000004 08 00 00000003 0000ffff')));
  });

  it('rejects a WINDOW_UPDATE increment of 0 or above 2^31-1', () => {
    expect(() => encodeWindowUpdate(1, 0)).toThrow(RangeError);
    expect(() => encodeWindowUpdate(1, 0x80000000)).toThrow(RangeError);
  });

  it('encodes RST_STREAM', () => {
    expect(hex(encodeRstStream(0x12345, ErrorCode.CANCEL))).toBe(hex(h('000004 03 00 00012345 00000008')));
  });

  it('encodes a small header block as one HEADERS frame with END_HEADERS (+END_STREAM when asked)', () => {
    const block = h('828684');
    expect(hex(encodeHeaders(1, block, false, 16384))).toBe(hex(h('000003 01 04 00000001 828684')));
    expect(hex(encodeHeaders(1, block, true, 16384))).toBe(hex(h('000003 01 05 00000001 828684')));
  });

  it('encodes an empty header block as one empty HEADERS frame', () => {
    expect(hex(encodeHeaders(7, Buffer.alloc(0), true, 16384))).toBe(hex(h('000000 01 05 00000007')));
  });

  it('splits a block larger than maxFrameSize into HEADERS + CONTINUATIONs, END_STREAM only on HEADERS', () => {
    const block = Buffer.alloc(16384 * 2 + 10);
    for (let i = 0; i < block.length; i++) block[i] = i & 0xff;
    const buf = encodeHeaders(3, block, true, 16384);
    expect(buf.length).toBe(block.length + 3 * 9);
    expect(hex(buf.subarray(0, 9))).toBe(hex(h('004000 01 01 00000003')));
    expect(buf.subarray(9, 9 + 16384).equals(block.subarray(0, 16384))).toBe(true);
    const second = 9 + 16384;
    expect(hex(buf.subarray(second, second + 9))).toBe(hex(h('004000 09 00 00000003')));
    expect(buf.subarray(second + 9, second + 9 + 16384).equals(block.subarray(16384, 32768))).toBe(true);
    const third = second + 9 + 16384;
    expect(hex(buf.subarray(third, third + 9))).toBe(hex(h('00000a 09 04 00000003')));
    expect(buf.subarray(third + 9).equals(block.subarray(32768))).toBe(true);
  });

  it('does not add an empty CONTINUATION when the block is an exact multiple of maxFrameSize', () => {
    const buf = encodeHeaders(1, Buffer.alloc(16384), false, 16384);
    expect(buf.length).toBe(16384 + 9);
    expect(hex(buf.subarray(0, 9))).toBe(hex(h('004000 01 04 00000001')));
  });

  it('encodes a 9-byte DATA frame header', () => {
    expect(hex(encodeDataHeader(1, 0x123456, false))).toBe(hex(h('123456 00 00 00000001')));
    expect(hex(encodeDataHeader(0x7fffffff, 0, true))).toBe(hex(h('000000 00 01 7fffffff')));
  });

  it('rejects out-of-range stream ids and DATA lengths', () => {
    expect(() => encodeRstStream(0x80000000, 0)).toThrow(RangeError);
    expect(() => encodeHeaders(-1, Buffer.alloc(0), false, 16384)).toThrow(RangeError);
    expect(() => encodeHeaders(1, Buffer.alloc(0), false, 100)).toThrow(RangeError);
    expect(() => encodeDataHeader(1, 0x1000000, false)).toThrow(RangeError);
  });
});

describe('parseSettings', () => {
  it('applies every known setting and returns their ids in order', () => {
    const { into, ids } = settingsOf(
      '0001 00000000 0002 00000000 0003 00000064 0004 7fffffff 0005 00ffffff 0006 00002000',
    );
    expect(into).toEqual({
      headerTableSize: 0,
      enablePush: false,
      maxConcurrentStreams: 100,
      initialWindowSize: 0x7fffffff,
      maxFrameSize: 16777215,
      maxHeaderListSize: 8192,
    });
    expect(ids).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('returns an empty list for an empty payload and leaves the settings as they were', () => {
    const { into, ids } = settingsOf('');
    expect(ids).toEqual([]);
    expect(into).toEqual(DEFAULT_SETTINGS);
  });

  it('ignores unknown ids and keeps the last value of a repeated id', () => {
    const { into, ids } = settingsOf('0004 00000001 00ff 12345678 0004 00000002 0008 00000001');
    expect(into.initialWindowSize).toBe(2);
    expect(ids).toEqual([4, 4]);
  });

  it('reads only the given range of the buffer', () => {
    const buf = h('ffff 0003 0000000a ffff');
    const into: Settings = { ...DEFAULT_SETTINGS };
    expect(parseSettings(buf, 2, 8, into)).toEqual([3]);
    expect(into.maxConcurrentStreams).toBe(10);
  });

  it('accepts the boundary values', () => {
    expect(settingsOf('0005 00004000').into.maxFrameSize).toBe(16384);
    expect(settingsOf('0004 00000000').into.initialWindowSize).toBe(0);
    expect(settingsOf('0002 00000001').into.enablePush).toBe(true);
  });

  it.each([
    ['length not a multiple of 6', '0004 000000', ErrorCode.FRAME_SIZE_ERROR, /multiple of 6/],
    ['ENABLE_PUSH = 2', '0002 00000002', ErrorCode.PROTOCOL_ERROR, /ENABLE_PUSH/],
    ['INITIAL_WINDOW_SIZE = 2^31', '0004 80000000', ErrorCode.FLOW_CONTROL_ERROR, /INITIAL_WINDOW_SIZE/],
    ['MAX_FRAME_SIZE = 16383', '0005 00003fff', ErrorCode.PROTOCOL_ERROR, /MAX_FRAME_SIZE 16383/],
    ['MAX_FRAME_SIZE = 2^24', '0005 01000000', ErrorCode.PROTOCOL_ERROR, /MAX_FRAME_SIZE 16777216/],
  ])('rejects %s', (_name, payload, code, message) => {
    const err = frameErrorOf(() => settingsOf(payload));
    expect(err.code).toBe(code);
    expect(err.streamId).toBe(0);
    expect(err.message).toMatch(message);
  });
});
