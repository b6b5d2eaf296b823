// SPDX-License-Identifier: Apache-2.0
// One HTTP request/response as the gRPC-Web adapter sees it, whatever carried it: an HTTP/1.1 request of node's
// `http` server (http1.ts) or an HTTP/2 stream of meshlet's own engine (h2.ts).

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { BodySource } from '../body-source.js';

/** The HTTP protocol a gRPC-Web call arrived on: the `protocol` label of meshlet_grpc_web_calls_total. */
export type WebProtocol = 'http/1.1' | 'h2';

/**
 * A request/response pair. The request body is read through `body` ('data'/'end', pause/resume); the response is
 * `respond` once, then `write`s and one `end`. `onClose` fires once when the exchange is over, finished or not
 * (`finished` tells which), so an abandoned response cancels the call.
 */
export interface WebExchange {
  readonly protocol: WebProtocol;
  readonly method: string;
  /** Request path (with query, as received). */
  readonly path: string;
  /** Host (HTTP/1.1) or :authority (HTTP/2). */
  readonly authority: string;
  /** Request headers, lowercased; HTTP/2 pseudo-headers included there. */
  readonly headers: IncomingHttpHeaders;
  readonly body: BodySource;
  respond(status: number, headers: OutgoingHttpHeaders, endStream?: boolean): void;
  /** Writes response bytes; false when the transport's buffer is full ('drain' via `onceDrain`). */
  write(chunk: Buffer): boolean;
  onceDrain(listener: () => void): void;
  end(): void;
  /** True once the response ended or the transport went away. */
  readonly done: boolean;
  /** Runs once when the exchange closes; `finished` = the response was ended normally. */
  onClose(listener: (finished: boolean) => void): void;
}
