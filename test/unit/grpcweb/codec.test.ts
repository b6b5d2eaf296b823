// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import {
  Base64StreamDecoder,
  encodeFrame,
  encodeTrailerFrame,
  GrpcWebFormatError,
  isGrpcWebContentType,
  parseFrames,
  parseGrpcWebContentType,
  parseTrailers,
  responseContentType,
  serializeTrailers,
  TRAILER_FLAG,
} from '../../../src/grpcweb/codec.js';
import { seededRandom } from '../../helpers/prng.js';

describe('content types', () => {
  it('accepts the four gRPC-Web content types, case-insensitive, with parameters', () => {
    expect(parseGrpcWebContentType('application/grpc-web')).toEqual({ text: false });
    expect(parseGrpcWebContentType('application/grpc-web+proto')).toEqual({ text: false });
    expect(parseGrpcWebContentType('Application/GRPC-Web-Text')).toEqual({ text: true });
    expect(parseGrpcWebContentType('application/grpc-web-text+proto; charset=utf-8')).toEqual({ text: true });
  });

  it('refuses +json, native gRPC and anything else', () => {
    for (const ct of ['application/grpc-web+json', 'application/grpc', 'text/plain', '', undefined]) expect(parseGrpcWebContentType(ct)).toBeUndefined();
    expect(isGrpcWebContentType('application/grpc-web+json')).toBe(true);
    expect(isGrpcWebContentType('application/grpc')).toBe(false);
  });

  it('answers with the same variant, +proto', () => {
    expect(responseContentType({ text: false })).toBe('application/grpc-web+proto');
    expect(responseContentType({ text: true })).toBe('application/grpc-web-text+proto');
  });
});

describe('frames', () => {
  it('round-trips empty, small and large messages and the trailers frame', () => {
    const big = Buffer.alloc(1 << 20, 7);
    const body = Buffer.concat([encodeFrame(0, Buffer.alloc(0)), encodeFrame(0, Buffer.from('hi')), encodeFrame(0, big), encodeTrailerFrame({ 'grpc-status': '0' })]);
    const frames = parseFrames(body);
    expect(frames.map((f) => f.data.length)).toEqual([0, 2, 1 << 20, 'grpc-status: 0\r\n'.length]);
    expect(frames[3]!.flags & TRAILER_FLAG).toBe(TRAILER_FLAG);
    expect(parseTrailers(frames[3]!.data)).toEqual({ 'grpc-status': '0' });
  });

  it('names where a body cut short ends', () => {
    expect(() => parseFrames(Buffer.from([0, 0, 0]))).toThrow(/inside a frame header at byte 0/);
    const frame = encodeFrame(0, Buffer.from('hello'));
    expect(() => parseFrames(frame.subarray(0, 7))).toThrow(GrpcWebFormatError);
    expect(() => parseFrames(frame.subarray(0, 7))).toThrow(/declares 5 bytes but the body has 2/);
  });

  it('serializes trailers lowercased, one line per value, -bin values untouched', () => {
    const block = serializeTrailers({ 'Grpc-Status': '5', 'grpc-message': 'not%20found', 'x-bin': ['AAE=', 'AgM='], ':status': 200, skip: undefined });
    expect(block.toString()).toBe('grpc-status: 5\r\ngrpc-message: not%20found\r\nx-bin: AAE=\r\nx-bin: AgM=\r\n');
    expect(parseTrailers(block)).toEqual({ 'grpc-status': '5', 'grpc-message': 'not%20found', 'x-bin': 'AAE=, AgM=' });
  });
});

describe('Base64StreamDecoder', () => {
  it('decodes a stream split at every byte position the same as in one piece', () => {
    const rnd = seededRandom(16);
    for (let len = 0; len < 40; len++) {
      const data = Buffer.from(Array.from({ length: len }, () => Math.floor(rnd() * 256)));
      const text = Buffer.from(data.toString('base64'), 'latin1');
      for (let split = 0; split <= text.length; split++) {
        const d = new Base64StreamDecoder();
        const out = Buffer.concat([d.push(text.subarray(0, split)), d.push(text.subarray(split))]);
        d.end();
        expect(out.equals(data)).toBe(true);
      }
    }
  });

  it('decodes concatenated padded runs (a client encoding chunk by chunk)', () => {
    const d = new Base64StreamDecoder();
    const text = Buffer.from(Buffer.from('a').toString('base64') + Buffer.from('bc').toString('base64') + Buffer.from('def').toString('base64'));
    expect(d.push(text).toString()).toBe('abcdef');
    d.end();
  });

  it('decodes one byte at a time', () => {
    const data = Buffer.from('the quick brown fox');
    const text = Buffer.from(data.toString('base64'));
    const d = new Base64StreamDecoder();
    const parts: Buffer[] = [];
    for (const b of text) parts.push(d.push(Buffer.from([b])));
    d.end();
    expect(Buffer.concat(parts).toString()).toBe('the quick brown fox');
  });

  it('rejects characters outside the alphabet with their offset', () => {
    const d = new Base64StreamDecoder();
    d.push(Buffer.from('QUJD'));
    expect(() => d.push(Buffer.from('QU!D'))).toThrow(/invalid base64 character 0x21 at offset 6/);
  });

  it('rejects misplaced padding and a stream ending inside a group', () => {
    expect(() => new Base64StreamDecoder().push(Buffer.from('Q=JD'))).toThrow(/misplaced base64 padding/);
    expect(() => new Base64StreamDecoder().push(Buffer.from('QU=D'))).toThrow(/misplaced base64 padding/);
    const d = new Base64StreamDecoder();
    d.push(Buffer.from('QUJDRA'));
    expect(() => d.end()).toThrow(/ends inside a 4-character group \(2 left over\)/);
  });
});
