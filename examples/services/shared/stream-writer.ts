// SPDX-License-Identifier: Apache-2.0
// Backpressure-aware writes on a server stream: wait for 'drain' instead of buffering without bound, and stop as
// soon as the client has gone (cancelled, deadline passed) so a producer does not keep reading its source.

import type * as grpc from '@grpc/grpc-js';

/**
 * Writes `message`; when the stream's buffer is full, waits until it drains.
 * @returns false when the call was cancelled (before or while waiting): the producer must stop.
 */
export async function writeMessage<Res>(call: grpc.ServerWritableStream<unknown, Res>, message: Res): Promise<boolean> {
  if (call.cancelled) return false;
  if (call.write(message)) return true;
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => (): void => {
      call.off('drain', onDrain);
      call.off('cancelled', onGone);
      call.off('close', onGone);
      resolve(ok);
    };
    const onDrain = done(true);
    const onGone = done(false);
    call.once('drain', onDrain);
    call.once('cancelled', onGone);
    call.once('close', onGone);
  }).then((ok) => ok && !call.cancelled);
}
