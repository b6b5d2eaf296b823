// SPDX-License-Identifier: Apache-2.0
// The engine's connection error (RFC 9113 §5.4.1), raised by any part of a connection while it handles a frame.

/**
 * A connection error (RFC 9113 §5.4.1) raised while handling a frame: the connection answers with GOAWAY `code`
 * (an ErrorCode) and closes. Stream errors are not thrown; they reset just the stream (§5.4.2).
 */
export class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
