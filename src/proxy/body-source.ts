// SPDX-License-Identifier: Apache-2.0
// The readable side of a body as the data path uses it, shared by the call model, the request body and replies.

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
}
