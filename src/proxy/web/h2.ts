// SPDX-License-Identifier: Apache-2.0
// An HTTP/2 stream of meshlet's engine carrying gRPC-Web (content-type application/grpc-web*, or a CORS
// preflight), as a WebExchange.

import type { IncomingHttpHeaders } from 'node:http2';
import type { H2Stream } from '../../h2/stream.js';
import type { WebExchange } from './exchange.js';

/** Wraps a server stream whose request headers were `headers`. */
export function h2Exchange(stream: H2Stream, headers: IncomingHttpHeaders): WebExchange {
  return {
    protocol: 'h2',
    method: (headers[':method'] as string | undefined) ?? '',
    path: (headers[':path'] as string | undefined) ?? '',
    authority: (headers[':authority'] as string | undefined) ?? headers.host ?? '',
    headers,
    body: stream,
    respond: (status, h, endStream) => stream.respond({ ...h, ':status': status }, endStream === true),
    write: (chunk) => stream.write(chunk),
    onceDrain: (l) => void stream.once('drain', l),
    end: () => void stream.end(),
    get done() {
      return stream.closed || stream.endQueued;
    },
    onClose(l) {
      if (stream.closed) l(stream.rstCode === 0 && stream.endQueued);
      else stream.once('close', () => l(stream.rstCode === 0 && stream.endQueued));
    },
  };
}
