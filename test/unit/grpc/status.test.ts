// SPDX-License-Identifier: Apache-2.0
import { constants } from 'node:http2';
import { describe, expect, it } from 'vitest';
import { decodeGrpcMessage, encodeGrpcMessage, Status, statusForHttpStatus, statusForRstCode } from '../../../src/grpc/status.js';

describe('grpc-message percent-encoding', () => {
  it('leaves printable ASCII alone and encodes %, controls and UTF-8', () => {
    expect(encodeGrpcMessage('plain text')).toBe('plain text');
    expect(encodeGrpcMessage('100%')).toBe('100%25');
    expect(encodeGrpcMessage('a\nb')).toBe('a%0Ab');
    expect(encodeGrpcMessage('✓')).toBe('%E2%9C%93');
  });

  it('round-trips any string', () => {
    for (const s of ['', 'x', '100% ✓ — naïve', '\u0000\u007f', '%%41']) expect(decodeGrpcMessage(encodeGrpcMessage(s))).toBe(s);
  });

  it('keeps malformed escapes as they are', () => {
    expect(decodeGrpcMessage('50%zz')).toBe('50%zz');
    expect(decodeGrpcMessage('end%')).toBe('end%');
  });
});

describe('status mapping', () => {
  it('maps RST_STREAM codes like PROTOCOL-HTTP2.md', () => {
    expect(statusForRstCode(constants.NGHTTP2_REFUSED_STREAM)).toBe(Status.UNAVAILABLE);
    expect(statusForRstCode(constants.NGHTTP2_CANCEL)).toBe(Status.CANCELLED);
    expect(statusForRstCode(constants.NGHTTP2_ENHANCE_YOUR_CALM)).toBe(Status.RESOURCE_EXHAUSTED);
    expect(statusForRstCode(constants.NGHTTP2_INADEQUATE_SECURITY)).toBe(Status.PERMISSION_DENIED);
    expect(statusForRstCode(constants.NGHTTP2_PROTOCOL_ERROR)).toBe(Status.INTERNAL);
    expect(statusForRstCode(constants.NGHTTP2_NO_ERROR)).toBe(Status.INTERNAL);
  });

  it('maps HTTP statuses like http-grpc-status-mapping.md', () => {
    expect(statusForHttpStatus(400)).toBe(Status.INTERNAL);
    expect(statusForHttpStatus(401)).toBe(Status.UNAUTHENTICATED);
    expect(statusForHttpStatus(403)).toBe(Status.PERMISSION_DENIED);
    expect(statusForHttpStatus(404)).toBe(Status.UNIMPLEMENTED);
    for (const s of [429, 502, 503, 504]) expect(statusForHttpStatus(s)).toBe(Status.UNAVAILABLE);
    expect(statusForHttpStatus(500)).toBe(Status.UNKNOWN);
  });
});
