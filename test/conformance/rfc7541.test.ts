// SPDX-License-Identifier: Apache-2.0
// RFC 7541 (HPACK), against meshlet's engine as a server with a raw-frame client: the decoding errors the RFC
// names are connection errors COMPRESSION_ERROR (RFC 9113 §4.3), and the dynamic table works across blocks.

import { describe, expect, it } from 'vitest';
import { ErrorCode, expectConnectionError, Flags, FrameType, rawFrame, responseEnded, useConformance } from './conformance-peer.js';

const start = useConformance();

/** A HEADERS frame with END_HEADERS and END_STREAM carrying `block` as it is. */
function block(streamId: number, bytes: number[] | Buffer): Buffer {
  return rawFrame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, streamId, Buffer.from(bytes));
}

/** The request's fields as indexed static entries and literals with an indexed name, no dynamic table. */
const REQUEST_PREFIX = [0x83 /* :method POST */, 0x86 /* :scheme http */, 0x04, 0x06, ...Buffer.from('/svc/M') /* :path */];

describe('RFC 7541 decoding errors are connection errors COMPRESSION_ERROR', () => {
  const errors: Array<[string, number[]]> = [
    ['index 0 (§6.1)', [0x80]],
    ['an index past the static and dynamic tables (§2.3.3)', [0xbe /* 62, the dynamic table is empty */]],
    ['a literal whose name index is past the tables (§2.3.3)', [0x4f, 0x33 /* 15 + 51 = 66 */, 0x01, 0x61]],
    ['a dynamic table size update above SETTINGS_HEADER_TABLE_SIZE (§6.3)', [0x3f, 0xe2, 0x1f /* 4097 */]],
    ['a dynamic table size update after the first field (§4.2)', [0x83, 0x20]],
    ['an integer that overflows (§5.1)', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]],
    ['a string longer than the block (§5.2)', [0x04, 0x7f, 0x00]],
    ['Huffman padding that is not the EOS prefix (§5.2)', [0x04, 0x81, 0x00]],
    ['Huffman padding longer than 7 bits (§5.2)', [0x04, 0x82, 0x1f, 0xff]],
  ];
  it.each(errors)('%s', async (_name, bytes) => {
    const { peer, requests } = await start();
    peer.write(block(1, bytes));
    await expectConnectionError(peer, ErrorCode.COMPRESSION_ERROR);
    expect(requests.size).toBe(0);
  });
});

describe('RFC 7541 dynamic table', () => {
  it('a field added with incremental indexing (§6.2.1) is found by its index in the next block (§2.3.2)', async () => {
    const { peer, requests } = await start();
    // x-tenant: blue, added to the dynamic table (index 62), then referenced by index alone.
    const literal = [0x40, 0x08, ...Buffer.from('x-tenant'), 0x04, ...Buffer.from('blue')];
    peer.write(block(1, [...REQUEST_PREFIX, ...literal]));
    peer.write(block(3, [...REQUEST_PREFIX, 0xbe]));
    await responseEnded(peer, 3);
    expect(requests.get(1)?.headers['x-tenant']).toBe('blue');
    expect(requests.get(3)?.headers['x-tenant']).toBe('blue');
  });

  it('a dynamic table size update to 0 at the start of a block empties the table (§4.2, §6.3)', async () => {
    const { peer, requests } = await start();
    const literal = [0x40, 0x08, ...Buffer.from('x-tenant'), 0x04, ...Buffer.from('blue')];
    peer.write(block(1, [...REQUEST_PREFIX, ...literal]));
    peer.write(block(3, [0x20, ...REQUEST_PREFIX]));
    await responseEnded(peer, 3);
    expect(requests.size).toBe(2);
    // The entry is gone: index 62 is now past the tables.
    peer.write(block(5, [...REQUEST_PREFIX, 0xbe]));
    await expectConnectionError(peer, ErrorCode.COMPRESSION_ERROR);
  });

  it('a never-indexed literal (§6.2.3) is decoded', async () => {
    const { peer, requests } = await start();
    peer.write(block(1, [...REQUEST_PREFIX, 0x10, 0x06, ...Buffer.from('secret'), 0x02, ...Buffer.from('s3')]));
    await responseEnded(peer, 1);
    expect(requests.get(1)?.headers['secret']).toBe('s3');
  });
});
