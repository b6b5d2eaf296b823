// SPDX-License-Identifier: Apache-2.0
// The readable side of a body as the data path uses it, shared by the call model, the request body and replies.

import type { StreamReader } from '../h2/stream.js';

/**
 * The readable side of a body as the data path uses it: a 'data'/'end' event source with pause/resume. meshlet's
 * HTTP/2 streams (h2/stream.ts) and node's Readable (replies meshlet makes itself, e.g. health answers) both fit.
 */
export interface BodySource extends NodeJS.EventEmitter {
  pause(): unknown;
  resume(): unknown;
  isPaused(): boolean;
  /** Abandons the body (an upstream stream is reset). */
  destroy(): unknown;
  /** meshlet's HTTP/2 streams only: calls `reader` directly instead of through listeners (h2/stream.ts). */
  readInto?(reader: StreamReader | undefined): void;
  /** meshlet's HTTP/2 streams only: a 'data' listener that does not start the flow (h2/stream.ts). */
  observeData?(listener: (chunk: Buffer) => void): void;
}

/** The listeners `readBody` attached to a source without `readInto`, so `stopReading` can remove them. */
const fallbackListeners = new WeakMap<BodySource, (chunk: Buffer) => void>();

/**
 * Starts `reader` on `source`: called directly by meshlet's streams (nothing allocated); through 'data' and 'end'
 * listeners on anything else (node's Readable: replies meshlet makes itself).
 */
export function readBody(source: BodySource, reader: StreamReader): void {
  if (source.readInto !== undefined) {
    source.readInto(reader);
    return;
  }
  const onData = (chunk: Buffer): void => reader.onStreamData(chunk);
  fallbackListeners.set(source, onData);
  source.on('data', onData);
  source.on('end', () => reader.onStreamEnd());
}

/** Stops delivering `source`'s chunks to the reader `readBody` started (the flow itself is left as it is). */
export function stopReading(source: BodySource): void {
  if (source.readInto !== undefined) {
    source.readInto(undefined);
    return;
  }
  const onData = fallbackListeners.get(source);
  if (onData !== undefined) source.removeListener('data', onData);
}
