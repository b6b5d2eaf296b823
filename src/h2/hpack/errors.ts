// SPDX-License-Identifier: Apache-2.0
// The one error type of the HPACK codec (RFC 7541): the HTTP/2 connection turns it into a COMPRESSION_ERROR.

/**
 * A malformed or oversized header block. The message names what is wrong and at which byte offset of the block
 * buffer it was found. Any HpackError from {@link HpackDecoder.decode} except `tooLarge` leaves the decoder's dynamic
 * table out of sync with the peer, so the connection must fail with COMPRESSION_ERROR (RFC 9113 §4.3).
 */
export class HpackError extends Error {
  /**
   * True when the block decoded fine but its header list exceeds the decoder's `maxHeaderListSize`. The dynamic
   * table is still in sync, so the connection may answer with a stream error (e.g. 431 or RST_STREAM) instead.
   */
  readonly tooLarge: boolean;
  /** The byte offset (into the buffer given to decode) where the problem was found; -1 when not applicable. */
  readonly offset: number;

  constructor(message: string, offset: number, tooLarge = false) {
    super(offset >= 0 ? `${message} at byte ${offset}` : message);
    this.name = 'HpackError';
    this.offset = offset;
    this.tooLarge = tooLarge;
  }
}
