// SPDX-License-Identifier: Apache-2.0
// Tells a TLS ClientHello from an HTTP/2 prior-knowledge (h2c) preface by the first bytes of a connection, so a
// permissive listener can take both on one port. Pure: the listener feeds it what it has read so far.

/** The HTTP/2 client connection preface (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * What the first bytes are: `tls` (a TLS handshake record: content type 0x16, then major version 0x03, RFC 8446
 * §5.1), `h2c` (the complete 24-byte HTTP/2 preface), `other` (neither: e.g. HTTP/1.1), or `more` when the bytes
 * so far are a proper prefix of one of them and another read is needed.
 */
export type DetectedProtocol = 'tls' | 'h2c' | 'other' | 'more';

/** Bytes needed at most to decide: the length of the HTTP/2 preface. */
export const DETECT_MAX_BYTES = H2_PREFACE.length;

/** Classifies `head`, the bytes read so far (any length, including 0). */
export function detectProtocol(head: Uint8Array): DetectedProtocol {
  if (head.length === 0) return 'more';
  if (head[0] === 0x16) {
    if (head.length === 1) return 'more';
    return head[1] === 0x03 ? 'tls' : 'other';
  }
  const n = Math.min(head.length, H2_PREFACE.length);
  for (let i = 0; i < n; i++) if (head[i] !== H2_PREFACE[i]) return 'other';
  return head.length >= H2_PREFACE.length ? 'h2c' : 'more';
}
