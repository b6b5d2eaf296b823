// SPDX-License-Identifier: Apache-2.0
// detectProtocol: a TLS ClientHello vs the HTTP/2 preface vs anything else, from the first bytes, fed whole or split.

import { describe, expect, it } from 'vitest';
import { detectProtocol, DETECT_MAX_BYTES } from '../../../src/tls/detect.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);

describe('detectProtocol', () => {
  it.each([
    ['nothing yet', Buffer.alloc(0), 'more'],
    ['a TLS record header, first byte only', Buffer.from([0x16]), 'more'],
    ['a TLS 1.0 record header (ClientHello)', CLIENT_HELLO, 'tls'],
    ['a TLS 1.2 record header, 2 bytes', Buffer.from([0x16, 0x03]), 'tls'],
    ['0x16 then not 0x03', Buffer.from([0x16, 0x02, 0x00]), 'other'],
    ['the whole HTTP/2 preface', PREFACE, 'h2c'],
    ['the preface and a SETTINGS frame', Buffer.concat([PREFACE, Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]), 'h2c'],
    ['the preface cut before its end', PREFACE.subarray(0, 23), 'more'],
    ['"PRI" only', PREFACE.subarray(0, 3), 'more'],
    ['an HTTP/1.1 request', Buffer.from('GET / HTTP/1.1\r\n'), 'other'],
    ['an HTTP/1.1 PRI-like method', Buffer.from('PRIX'), 'other'],
    ['a preface with a wrong byte at the end', Buffer.concat([PREFACE.subarray(0, 23), Buffer.from('X')]), 'other'],
    ['an SSLv2-style ClientHello', Buffer.from([0x80, 0x2e, 0x01]), 'other'],
  ])('%s → %s', (_name, bytes, want) => {
    expect(detectProtocol(bytes)).toBe(want);
  });

  it('reaches the same answer for every split of the input into reads (preface and ClientHello)', () => {
    for (const [input, want] of [[PREFACE, 'h2c'], [CLIENT_HELLO, 'tls'], [Buffer.from('GET / HTTP/1.1\r\n'), 'other']] as const) {
      // Feeding byte by byte, as the listener does with one read per byte: 'more' until decided, then the answer.
      let decided: string | undefined;
      let at = -1;
      for (let n = 1; n <= input.length && decided === undefined; n++) {
        const r = detectProtocol(input.subarray(0, n));
        if (r !== 'more') {
          decided = r;
          at = n;
        }
      }
      expect(decided).toBe(want);
      expect(at).toBeLessThanOrEqual(DETECT_MAX_BYTES);
    }
  });

  it('never needs more than the 24 bytes of the preface', () => {
    expect(DETECT_MAX_BYTES).toBe(24);
  });
});
