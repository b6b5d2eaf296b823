// SPDX-License-Identifier: Apache-2.0
// GOAWAY of the engine (RFC 9113 §6.8): the GOAWAY frames a connection sends as it closes, what one received
// means, and the reason a connection ended badly as a metric label.

import type { Socket } from 'node:net';
import { encodeGoaway, ErrorCode } from './frame.js';

/** After a GOAWAY with an error, the socket is ended and destroyed this much later at the latest. */
const GOAWAY_LINGER_MS = 1000;
/** GOAWAY debug data we send is cut to this many characters. */
const MAX_DEBUG_CHARS = 200;
/** How closeError starts when the peer's GOAWAY carried an error (closeReason tells it from a lost socket by it). */
const PEER_GOAWAY = 'the peer sent GOAWAY with HTTP/2 error';
const ERROR_NAMES = new Map(Object.entries(ErrorCode).map(([name, code]) => [code, name.toLowerCase()]));

// How a connection ends (connection.ts drives it; each step's GOAWAY comes from here):
// 1. Graceful close (close()): no new streams from then on. A server sends GOAWAY NO_ERROR with the highest stream
//    id it accepted, so the client may send anything later elsewhere (§6.8). Streams in flight finish.
// 2. Refusal (the rapid-reset guard, guards.ts): GOAWAY ENHANCE_YOUR_CALM, then as in 1: the calls in flight,
//    which between sidecars belong to other callers, finish.
// 3. Once no stream is left after 1 or 2: a client that received no GOAWAY sends its own, NO_ERROR with last stream
//    id 0 (it accepts no streams from a server: push is off); what is queued is written and the socket ended.
// 4. Error (destroy with a code: a connection error, §5.4.1, or a flood): a GOAWAY with the code and the reason as
//    debug data is written at once, every stream is closed, and the socket is ended, then destroyed
//    GOAWAY_LINGER_MS later at the latest, so the GOAWAY has a chance to reach the peer and say why.
// 5. Receipt of a GOAWAY: no new streams. A client refuses its streams above the last stream id (REFUSED_STREAM:
//    the peer never processed them, so they are safe to send again, §6.8) and those still waiting for a slot;
//    the others finish, then the connection closes as in 3 (without a GOAWAY of its own).

/** The GOAWAY state of one connection. */
export class GoAway {
  /** A GOAWAY arrived from the peer (step 5): no new streams. */
  received = false;
  /** The error code of the GOAWAY we sent because of the peer (protocol error, flood guard), if any. */
  code: number | undefined;

  /** Step 1: the GOAWAY of a server's graceful close; `lastStreamId` is the highest stream it accepted. */
  graceful(lastStreamId: number): Buffer {
    return encodeGoaway(lastStreamId, ErrorCode.NO_ERROR);
  }

  /** Step 2: GOAWAY ENHANCE_YOUR_CALM saying `reason`; the connection takes no new streams. */
  refuse(lastStreamId: number, reason: string): Buffer {
    this.code = ErrorCode.ENHANCE_YOUR_CALM;
    return encodeGoaway(lastStreamId, ErrorCode.ENHANCE_YOUR_CALM, reason.slice(0, MAX_DEBUG_CHARS));
  }

  /** Step 3: a client's own GOAWAY once its last stream closed. */
  final(): Buffer {
    return encodeGoaway(0, ErrorCode.NO_ERROR);
  }

  /** Step 4: the GOAWAY for an error `code` (the caller records it in `code`), with `reason` as debug data. */
  error(lastStreamId: number, code: number, reason: string | undefined): Buffer {
    return encodeGoaway(lastStreamId, code, reason?.slice(0, MAX_DEBUG_CHARS));
  }

  /** Step 5: a GOAWAY with `code` arrived. Returns the error that says so when it carries one, else undefined. */
  onReceived(code: number): Error | undefined {
    this.received = true;
    return code === ErrorCode.NO_ERROR ? undefined : new Error(`${PEER_GOAWAY} ${code}`);
  }

  /**
   * Why the connection ended badly, as a metric label: the HTTP/2 error name of the GOAWAY we sent
   * (`protocol_error`, `enhance_your_calm`, ...), `peer_goaway` (the peer sent one with an error), `disconnected`
   * (`closeError` is set otherwise: the socket ended or failed with streams open); undefined after a clean close.
   */
  closeReason(closeError: Error | undefined): string | undefined {
    if (this.code !== undefined) return errorName(this.code);
    if (closeError === undefined) return undefined;
    return closeError.message.startsWith(PEER_GOAWAY) ? 'peer_goaway' : 'disconnected';
  }
}

/** Step 4: ends `socket` after our GOAWAY, and destroys it GOAWAY_LINGER_MS later if the peer has not closed it. */
export function lingerAndDestroy(socket: Socket): void {
  socket.end();
  setTimeout(destroySocket, GOAWAY_LINGER_MS, socket).unref();
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}

/** `protocol_error` for 1, ...; `error_<n>` for codes RFC 9113 does not name (§7). */
function errorName(code: number): string {
  return ERROR_NAMES.get(code as (typeof ErrorCode)[keyof typeof ErrorCode]) ?? `error_${code}`;
}
