// SPDX-License-Identifier: Apache-2.0
// Typed call helpers over grpc.Client and a proto-loader method definition, so example clients need no
// generated stubs: a Promise for unary calls, an async-iterable stream for server streaming.

import * as grpc from '@grpc/grpc-js';

/** True when `err` is a status error from a grpc-js call (has a numeric `code`). */
export function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number';
}

/** Unary call; rejects with a grpc.ServiceError on a non-OK status. */
export function unaryCall<Req, Res>(
  client: grpc.Client,
  method: grpc.MethodDefinition<Req, Res>,
  request: Req,
  options: grpc.CallOptions = {},
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      metadata,
      options,
      (err, value) => {
        if (err) reject(err);
        else resolve(value as Res);
      },
    );
  });
}

/** Server-streaming call; iterate it with `for await` (a non-OK status is thrown as a grpc.ServiceError). */
export function serverStreamCall<Req, Res>(
  client: grpc.Client,
  method: grpc.MethodDefinition<Req, Res>,
  request: Req,
  options: grpc.CallOptions = {},
  metadata: grpc.Metadata = new grpc.Metadata(),
): grpc.ClientReadableStream<Res> {
  return client.makeServerStreamRequest(
    method.path,
    method.requestSerialize,
    method.responseDeserialize,
    request,
    metadata,
    options,
  );
}
