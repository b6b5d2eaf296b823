// SPDX-License-Identifier: Apache-2.0
// The hand-written grpc.health.v1 codec against protobufjs (through @grpc/proto-loader and the bundled
// health.proto): same bytes both ways, unknown fields skipped, malformed input rejected.

import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import {
  decodeHealthCheckRequest,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
  frame,
  ServingStatus,
  servingStatusName,
  unframe,
} from '../../../src/health/proto.js';

const pkg = protoLoader.loadSync('examples/services/shared/health.proto', { enums: Number, defaults: false });
const methods = pkg['grpc.health.v1.Health'] as protoLoader.ServiceDefinition;
const check = methods.Check as protoLoader.MethodDefinition<object, object>;

describe('health proto codec', () => {
  it('encodes requests exactly as protobufjs does and decodes what it encodes', () => {
    for (const service of ['user.v1.UserService', 'ü'.repeat(200)]) {
      expect(encodeHealthCheckRequest(service)).toEqual(check.requestSerialize({ service }));
      expect(decodeHealthCheckRequest(check.requestSerialize({ service }))).toEqual({ service });
    }
    // The default: we omit it (proto3 rule), protobufjs writes it when set explicitly; both read back as ''.
    expect(encodeHealthCheckRequest('')).toEqual(Buffer.alloc(0));
    expect(decodeHealthCheckRequest(check.requestSerialize({ service: '' }))).toEqual({ service: '' });
    expect(check.requestDeserialize(encodeHealthCheckRequest(''))).toMatchObject({});
  });

  it('encodes responses exactly as protobufjs does (the default omitted, as proto3 allows)', () => {
    for (const status of [0, 1, 2, 3]) {
      if (status !== 0) expect(encodeHealthCheckResponse(status)).toEqual(check.responseSerialize({ status }));
      expect(check.responseDeserialize(encodeHealthCheckResponse(status))).toMatchObject(status === 0 ? {} : { status });
      expect(decodeHealthCheckResponse(check.responseSerialize({ status })).status).toBe(status);
    }
  });

  it('skips unknown fields of every wire type', () => {
    const unknown = Buffer.from([
      0x10, 0x96, 0x01, // field 2 varint
      0x19, 1, 2, 3, 4, 5, 6, 7, 8, // field 3 fixed64
      0x25, 1, 2, 3, 4, // field 4 fixed32
      0x2a, 0x02, 0x61, 0x62, // field 5 bytes
    ]);
    expect(decodeHealthCheckRequest(Buffer.concat([unknown, encodeHealthCheckRequest('s')]))).toEqual({ service: 's' });
    expect(decodeHealthCheckResponse(Buffer.concat([unknown, encodeHealthCheckResponse(2)]))).toEqual({ status: 2 });
  });

  it('rejects truncated input', () => {
    expect(() => decodeHealthCheckRequest(Buffer.from([0x0a, 0x05, 0x61]))).toThrow(/truncated/);
    expect(() => decodeHealthCheckResponse(Buffer.from([0x08, 0x80]))).toThrow(/varint/);
    expect(() => unframe(Buffer.from([0, 0, 0, 0, 9, 1]))).toThrow(/truncated/);
    expect(() => unframe(Buffer.from([0, 0]))).toThrow(/prefix/);
    expect(() => unframe(Buffer.from([1, 0, 0, 0, 0]))).toThrow(/compressed/);
  });

  it('frames and unframes messages', () => {
    const framed = Buffer.concat([frame(Buffer.from('ab')), frame(Buffer.alloc(0))]);
    expect(unframe(framed)).toEqual([Buffer.from('ab'), Buffer.alloc(0)]);
  });

  it('names statuses, reading values outside the enum as UNKNOWN (open enum)', () => {
    expect(servingStatusName(ServingStatus.NOT_SERVING)).toBe('NOT_SERVING');
    expect(servingStatusName(9)).toBe('UNKNOWN');
  });
});
