// SPDX-License-Identifier: Apache-2.0
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CONNECTION_PREFACE, ErrorCode, Flags, FrameError, FrameType } from '../../../src/h2/frame.js';
import { FrameReader, type FrameSink } from '../../../src/h2/frame-reader.js';

interface Seen {
  type: number;
  flags: number;
  streamId: number;
  payload: string;
  flowLength: number;
}

/** A raw frame, built by hand (independent of the encoders under test elsewhere). */
function frame(type: number, flags: number, streamId: number, payload: Buffer | string = ''): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload.replace(/\s+/g, ''), 'hex') : payload;
  const header = Buffer.alloc(9);
  header.writeUIntBE(p.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, p]);
}

class Recorder implements FrameSink {
  readonly frames: Seen[] = [];
  readonly payloads: Buffer[] = [];
  onFrame(type: number, flags: number, streamId: number, buf: Buffer, start: number, end: number, flowLength: number): void {
    const payload = buf.subarray(start, end);
    this.frames.push({ type, flags, streamId, payload: payload.toString('hex'), flowLength });
    this.payloads.push(payload);
  }
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

// A stream mixing every shape the reader treats specially.
const MIXED = Buffer.concat([
  frame(FrameType.SETTINGS, 0, 0, '0003 00000064 0004 0000ffff'),
  frame(FrameType.SETTINGS, Flags.ACK, 0),
  frame(FrameType.HEADERS, Flags.END_HEADERS, 1, '828684'),
  frame(FrameType.HEADERS, Flags.PADDED | Flags.PRIORITY, 3, '02 80000001 10 8286 0000'), // pad 2, priority, block
  frame(FrameType.CONTINUATION, Flags.END_HEADERS, 3, '84'),
  frame(FrameType.DATA, 0, 1, '0000000005 68656c6c6f'),
  frame(FrameType.DATA, Flags.PADDED | Flags.END_STREAM, 3, '03 aabb 000000'), // pad 3
  frame(FrameType.DATA, Flags.PADDED, 5, '00'), // pad 0, empty data
  frame(FrameType.DATA, Flags.END_STREAM, 7), // empty
  frame(FrameType.PING, 0, 0, '0102030405060708'),
  frame(FrameType.WINDOW_UPDATE, 0, 0, '00010000'),
  frame(FrameType.WINDOW_UPDATE, 0, 1, '00000010'),
  frame(FrameType.RST_STREAM, 0, 9, '00000008'),
  frame(FrameType.PRIORITY, 0, 11, '0000000110'),
  frame(0xfa, 0xff, 13, 'cafe'), // unknown type: delivered as is
  frame(FrameType.GOAWAY, 0, 0, '00000009 00000000 6279'),
]);

const MIXED_EXPECTED: Seen[] = [
  { type: 4, flags: 0, streamId: 0, payload: '00030000006400040000ffff', flowLength: 12 },
  { type: 4, flags: 1, streamId: 0, payload: '', flowLength: 0 },
  { type: 1, flags: 4, streamId: 1, payload: '828684', flowLength: 3 },
  { type: 1, flags: 0x28, streamId: 3, payload: '8286', flowLength: 10 },
  { type: 9, flags: 4, streamId: 3, payload: '84', flowLength: 1 },
  { type: 0, flags: 0, streamId: 1, payload: '000000000568656c6c6f', flowLength: 10 },
  { type: 0, flags: 9, streamId: 3, payload: 'aabb', flowLength: 6 },
  { type: 0, flags: 8, streamId: 5, payload: '', flowLength: 1 },
  { type: 0, flags: 1, streamId: 7, payload: '', flowLength: 0 },
  { type: 6, flags: 0, streamId: 0, payload: '0102030405060708', flowLength: 8 },
  { type: 8, flags: 0, streamId: 0, payload: '00010000', flowLength: 4 },
  { type: 8, flags: 0, streamId: 1, payload: '00000010', flowLength: 4 },
  { type: 3, flags: 0, streamId: 9, payload: '00000008', flowLength: 4 },
  { type: 2, flags: 0, streamId: 11, payload: '0000000110', flowLength: 5 },
  { type: 0xfa, flags: 0xff, streamId: 13, payload: 'cafe', flowLength: 2 },
  { type: 7, flags: 0, streamId: 0, payload: '00000009000000006279', flowLength: 10 },
];

function readAll(chunks: Buffer[], preface = false, maxFrameSize?: number): Seen[] {
  const sink = new Recorder();
  const reader = new FrameReader(sink, maxFrameSize);
  if (preface) reader.expectPreface();
  for (const c of chunks) reader.push(c);
  return sink.frames;
}

/** Copies (so no test relies on views of one shared buffer) and splits at the given offsets. */
function splitAt(buf: Buffer, points: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, buf.length]) {
    out.push(Buffer.from(buf.subarray(prev, p)));
    prev = p;
  }
  return out;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('FrameReader: splitting', () => {
  it('delivers many frames from one chunk in order, padding and priority fields removed', () => {
    expect(readAll([MIXED])).toEqual(MIXED_EXPECTED);
  });

  it('hands out views of the chunk, not copies, when frames are whole inside it', () => {
    const sink = new Recorder();
    const chunk = Buffer.from(MIXED);
    new FrameReader(sink).push(chunk);
    for (const p of sink.payloads) expect(p.buffer).toBe(chunk.buffer);
    expect(sink.payloads[6]!.byteOffset - chunk.byteOffset).toBe(MIXED.indexOf(Buffer.from('03aabb', 'hex')) + 1);
  });

  it('delivers the same frames however the bytes are split into two or three chunks', () => {
    for (let i = 0; i <= MIXED.length; i++) {
      expect(readAll(splitAt(MIXED, [i])), `split at ${i}`).toEqual(MIXED_EXPECTED);
    }
    for (let i = 0; i <= MIXED.length; i += 3) {
      for (let j = i; j <= MIXED.length; j += 2) {
        expect(readAll(splitAt(MIXED, [i, j])), `split at ${i}, ${j}`).toEqual(MIXED_EXPECTED);
      }
    }
  });

  it('delivers the same frames when fed one byte at a time, and with empty chunks in between', () => {
    const chunks: Buffer[] = [];
    for (let i = 0; i < MIXED.length; i++) chunks.push(MIXED.subarray(i, i + 1), Buffer.alloc(0));
    expect(readAll(chunks)).toEqual(MIXED_EXPECTED);
  });

  it('does not copy the payload when only the header was split off', () => {
    const f = frame(FrameType.DATA, 0, 1, 'aabbccdd');
    const sink = new Recorder();
    const reader = new FrameReader(sink);
    reader.push(f.subarray(0, 5));
    const rest = Buffer.from(f.subarray(5));
    reader.push(rest);
    expect(sink.frames).toEqual([{ type: 0, flags: 0, streamId: 1, payload: 'aabbccdd', flowLength: 4 }]);
    expect(sink.payloads[0]!.buffer).toBe(rest.buffer);
  });

  it('keeps delivered payload views intact while later chunks arrive', () => {
    const a = frame(FrameType.DATA, 0, 1, '11111111');
    const b = frame(FrameType.DATA, 0, 1, '22222222');
    const sink = new Recorder();
    const reader = new FrameReader(sink);
    const all = Buffer.concat([a, b]);
    reader.push(all.subarray(0, 12));
    reader.push(all.subarray(12, 22));
    reader.push(all.subarray(22));
    expect(sink.payloads.map((p) => p.toString('hex'))).toEqual(['11111111', '22222222']);
  });

  it('ignores the reserved bit of the stream id', () => {
    expect(readAll([frame(FrameType.WINDOW_UPDATE, 0, 0x80000005, '00000001')])[0]!.streamId).toBe(5);
  });

  it('accepts a frame of exactly maxFrameSize', () => {
    const f = frame(FrameType.DATA, 0, 1, Buffer.alloc(16384, 7));
    expect(readAll([f])[0]!.flowLength).toBe(16384);
  });

  it('assembles a 1 MiB frame pushed in 1 KiB chunks copying each byte once', () => {
    const size = 1 << 20;
    const payload = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i += 4) payload.writeUInt32BE(i, i);
    const wire = frame(FrameType.DATA, Flags.END_STREAM, 1, payload);
    const chunks: Buffer[] = [];
    for (let i = 0; i < wire.length; i += 1024) chunks.push(wire.subarray(i, i + 1024));
    const sink = new Recorder();
    const reader = new FrameReader(sink, 16777215);

    const realCopy = Buffer.prototype.copy as (this: Buffer, ...args: unknown[]) => number;
    let copied = 0;
    vi.spyOn(Buffer.prototype, 'copy').mockImplementation(function (this: Buffer, ...args: unknown[]) {
      const n = realCopy.apply(this, args);
      copied += n;
      return n;
    });
    // Concatenating or growing buffers would allocate through these rather than copy().
    let allocated = 0;
    const realAllocUnsafe = Buffer.allocUnsafe;
    vi.spyOn(Buffer, 'allocUnsafe').mockImplementation((n: number) => {
      allocated += n;
      return realAllocUnsafe(n);
    });
    const realConcat = Buffer.concat;
    vi.spyOn(Buffer, 'concat').mockImplementation((list: readonly Uint8Array[], total?: number) => {
      const out = realConcat(list, total);
      allocated += out.length;
      return out;
    });
    for (const c of chunks) reader.push(c);
    vi.restoreAllMocks();

    expect(sink.payloads).toHaveLength(1);
    expect(sink.payloads[0]!.equals(payload)).toBe(true);
    expect(copied).toBeLessThanOrEqual(size + 9);
    expect(allocated).toBeLessThanOrEqual(size);
    expect(copied).toBeGreaterThanOrEqual(size - 1024); // the spies saw the assembly at all
    expect(allocated).toBeGreaterThanOrEqual(size);
  });

  it('assembles a frame of the largest allowed size (16 MiB - 1) when maxFrameSize allows it', () => {
    const size = 16777215;
    const payload = Buffer.alloc(size);
    payload[0] = 1;
    payload[size >> 1] = 2;
    payload[size - 1] = 3;
    const wire = frame(FrameType.DATA, 0, 1, payload);
    const sink = new Recorder();
    const reader = new FrameReader(sink, size);
    for (let i = 0; i < wire.length; i += 65536) reader.push(wire.subarray(i, i + 65536));
    expect(sink.payloads).toHaveLength(1);
    expect(sink.payloads[0]!.length).toBe(size);
    expect(sink.payloads[0]!.equals(payload)).toBe(true);
  });
});

describe('FrameReader: preface', () => {
  const settings = frame(FrameType.SETTINGS, 0, 0);

  it('consumes the client preface, then reads frames from the same chunk', () => {
    expect(readAll([Buffer.concat([CONNECTION_PREFACE, settings])], true)).toEqual([
      { type: 4, flags: 0, streamId: 0, payload: '', flowLength: 0 },
    ]);
  });

  it('consumes a preface split at every byte', () => {
    const wire = Buffer.concat([CONNECTION_PREFACE, settings]);
    for (let i = 0; i <= wire.length; i++) expect(readAll(splitAt(wire, [i]), true)).toHaveLength(1);
    expect(readAll(splitAt(wire, Array.from({ length: wire.length - 1 }, (_, i) => i + 1)), true)).toHaveLength(1);
  });

  it('without expectPreface, treats the preface bytes as a (bad) frame', () => {
    expect(() => readAll([CONNECTION_PREFACE])).toThrow(FrameError);
  });

  it('says HTTP/1.x when an HTTP/1.1 request arrives instead', () => {
    const err = frameErrorOf(() => readAll([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], true));
    expect(err.code).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(err.streamId).toBe(0);
    expect(err.message).toMatch(/HTTP\/1\.x/);
    expect(err.message).toContain('GET / HTTP/1.1');
  });

  it('says HTTP/1.x for a POST that matches the preface\'s first byte and arrives split', () => {
    const err = frameErrorOf(() => readAll([Buffer.from('P'), Buffer.from('OST /x HTTP/1.1\r\n\r\n')], true));
    expect(err.code).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(err.message).toMatch(/HTTP\/1\.x/);
    expect(err.message).toContain('POST /x HTTP/1.1');
  });

  it('rejects garbage without calling it HTTP/1.x', () => {
    const err = frameErrorOf(() => readAll([Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n')], true));
    expect(err.code).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(err.message).not.toMatch(/HTTP\/1/);
    expect(err.message).toMatch(/preface/);
  });

  it('names a TLS handshake sent to a plaintext listener', () => {
    const err = frameErrorOf(() => readAll([Buffer.from('160301020001', 'hex')], true));
    expect(err.code).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(err.message).toMatch(/TLS/);
  });
});

describe('FrameReader: errors', () => {
  it.each<[string, Buffer, number, RegExp]>([
    ['a frame above maxFrameSize', frame(FrameType.DATA, 0, 1, Buffer.alloc(16385)), ErrorCode.FRAME_SIZE_ERROR, /16385 exceeds/],
    ['DATA on stream 0', frame(FrameType.DATA, 0, 0, 'aa'), ErrorCode.PROTOCOL_ERROR, /DATA frame on stream 0/],
    ['padded DATA with no pad length byte', frame(FrameType.DATA, Flags.PADDED, 1), ErrorCode.FRAME_SIZE_ERROR, /DATA frame length 0/],
    ['DATA with pad length = payload length', frame(FrameType.DATA, Flags.PADDED, 1, '03 aabb'), ErrorCode.PROTOCOL_ERROR, /pad length 3/],
    ['HEADERS on stream 0', frame(FrameType.HEADERS, Flags.END_HEADERS, 0, '82'), ErrorCode.PROTOCOL_ERROR, /HEADERS frame on stream 0/],
    ['HEADERS with PRIORITY shorter than 5', frame(FrameType.HEADERS, Flags.PRIORITY, 1, '00000000'), ErrorCode.FRAME_SIZE_ERROR, /at least 5/],
    ['HEADERS with PADDED|PRIORITY shorter than 6', frame(FrameType.HEADERS, Flags.PADDED | Flags.PRIORITY, 1, '0000000000'), ErrorCode.FRAME_SIZE_ERROR, /at least 6/],
    ['HEADERS whose padding eats the priority fields', frame(FrameType.HEADERS, Flags.PADDED | Flags.PRIORITY, 1, '02 0000000010 82'), ErrorCode.PROTOCOL_ERROR, /pad length 2/],
    ['PRIORITY of length 4', frame(FrameType.PRIORITY, 0, 1, '00000000'), ErrorCode.FRAME_SIZE_ERROR, /PRIORITY frame length 4, must be 5/],
    ['PRIORITY on stream 0', frame(FrameType.PRIORITY, 0, 0, '0000000010'), ErrorCode.PROTOCOL_ERROR, /PRIORITY frame on stream 0/],
    ['RST_STREAM of length 3', frame(FrameType.RST_STREAM, 0, 1, '000000'), ErrorCode.FRAME_SIZE_ERROR, /RST_STREAM frame length 3/],
    ['RST_STREAM on stream 0', frame(FrameType.RST_STREAM, 0, 0, '00000000'), ErrorCode.PROTOCOL_ERROR, /RST_STREAM frame on stream 0/],
    ['SETTINGS on stream 1', frame(FrameType.SETTINGS, 0, 1), ErrorCode.PROTOCOL_ERROR, /SETTINGS frame on stream 1/],
    ['SETTINGS of length 7', frame(FrameType.SETTINGS, 0, 0, '00030000006400'), ErrorCode.FRAME_SIZE_ERROR, /multiple of 6/],
    ['SETTINGS ACK with a payload', frame(FrameType.SETTINGS, Flags.ACK, 0, '000300000064'), ErrorCode.FRAME_SIZE_ERROR, /ACK has length 6/],
    ['PING of length 7', frame(FrameType.PING, 0, 0, '01020304050607'), ErrorCode.FRAME_SIZE_ERROR, /PING frame length 7, must be 8/],
    ['PING on stream 1', frame(FrameType.PING, 0, 1, '0102030405060708'), ErrorCode.PROTOCOL_ERROR, /PING frame on stream 1/],
    ['GOAWAY of length 7', frame(FrameType.GOAWAY, 0, 0, '00000000000000'), ErrorCode.FRAME_SIZE_ERROR, /GOAWAY frame length 7, must be at least 8/],
    ['GOAWAY on stream 1', frame(FrameType.GOAWAY, 0, 1, '0000000000000000'), ErrorCode.PROTOCOL_ERROR, /GOAWAY frame on stream 1/],
    ['WINDOW_UPDATE of length 3', frame(FrameType.WINDOW_UPDATE, 0, 1, '000001'), ErrorCode.FRAME_SIZE_ERROR, /WINDOW_UPDATE frame length 3/],
    ['CONTINUATION on stream 0', frame(FrameType.CONTINUATION, Flags.END_HEADERS, 0, '82'), ErrorCode.PROTOCOL_ERROR, /CONTINUATION frame on stream 0/],
    ['PUSH_PROMISE on stream 0', frame(FrameType.PUSH_PROMISE, Flags.END_HEADERS, 0, '0000000282'), ErrorCode.PROTOCOL_ERROR, /PUSH_PROMISE frame on stream 0/],
  ])('rejects %s, whole or split byte by byte', (_name, wire, code, message) => {
    const whole = frameErrorOf(() => readAll([wire]));
    expect(whole.code).toBe(code);
    expect(whole.streamId).toBe(0);
    expect(whole.message).toMatch(message);
    const split = frameErrorOf(() => readAll(splitAt(wire, Array.from({ length: wire.length - 1 }, (_, i) => i + 1))));
    expect(split.code).toBe(code);
    expect(split.message).toBe(whole.message);
  });

  it('delivers the frames before the bad one', () => {
    const sink = new Recorder();
    const reader = new FrameReader(sink);
    const wire = Buffer.concat([frame(FrameType.PING, 0, 0, '0102030405060708'), frame(FrameType.PING, 0, 3, '0102030405060708')]);
    expect(() => reader.push(wire)).toThrow(FrameError);
    expect(sink.frames).toHaveLength(1);
  });

  it('rejects an oversized frame from its header alone, before the payload arrives', () => {
    const header = frame(FrameType.DATA, 0, 1, Buffer.alloc(20000)).subarray(0, 9);
    expect(frameErrorOf(() => readAll([header])).code).toBe(ErrorCode.FRAME_SIZE_ERROR);
  });

  it('accepts the boundary cases next to each error', () => {
    expect(readAll([frame(FrameType.DATA, Flags.PADDED, 1, '02 aabb')])[0]!.payload).toBe('');
    expect(readAll([frame(FrameType.HEADERS, Flags.PADDED | Flags.PRIORITY, 1, '01 0000000010 00')])[0]!.payload).toBe('');
    expect(readAll([frame(FrameType.GOAWAY, 0, 0, '0000000000000000')])).toHaveLength(1);
    expect(readAll([frame(FrameType.CONTINUATION, 0, 1)])).toHaveLength(1);
  });

  it('ignores pushes after it threw', () => {
    const sink = new Recorder();
    const reader = new FrameReader(sink);
    expect(() => reader.push(frame(FrameType.PING, 0, 1, '0102030405060708'))).toThrow(FrameError);
    reader.push(frame(FrameType.PING, 0, 0, '0102030405060708'));
    expect(sink.frames).toHaveLength(0);
  });

  it('ignores pushes after the sink threw', () => {
    let calls = 0;
    const reader = new FrameReader({
      onFrame() {
        calls++;
        throw new Error('boom');
      },
    });
    const ping = frame(FrameType.PING, 0, 0, '0102030405060708');
    expect(() => reader.push(Buffer.concat([ping, ping]))).toThrow('boom');
    reader.push(ping);
    expect(calls).toBe(1);
  });

  it('rejects a maxFrameSize outside 16384..16777215', () => {
    const sink = new Recorder();
    expect(() => new FrameReader(sink, 16383)).toThrow(RangeError);
    expect(() => new FrameReader(sink, 16777216)).toThrow(RangeError);
  });
});

describe('FrameReader: stop', () => {
  const ping = frame(FrameType.PING, 0, 0, '0102030405060708');

  it('stops delivery mid-chunk when the sink calls stop(), and ignores later pushes', () => {
    const seen: number[] = [];
    const reader: FrameReader = new FrameReader({
      onFrame(_type, _flags, streamId) {
        seen.push(streamId);
        reader.stop();
      },
    });
    const wire = Buffer.concat([frame(FrameType.RST_STREAM, 0, 1, '00000008'), frame(FrameType.RST_STREAM, 0, 3, '00000008')]);
    reader.push(wire);
    reader.push(wire);
    expect(seen).toEqual([1]);
  });

  it('stops when the frame that calls stop() completes a frame spanning chunks', () => {
    let calls = 0;
    const reader: FrameReader = new FrameReader({
      onFrame() {
        calls++;
        reader.stop();
      },
    });
    const wire = Buffer.concat([ping, ping]);
    reader.push(wire.subarray(0, 12));
    reader.push(wire.subarray(12));
    expect(calls).toBe(1);
  });

  it('makes push a no-op after stop() from outside', () => {
    const sink = new Recorder();
    const reader = new FrameReader(sink);
    reader.stop();
    reader.push(ping);
    expect(sink.frames).toHaveLength(0);
  });
});
