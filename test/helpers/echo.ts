// SPDX-License-Identifier: Apache-2.0
// An in-process grpc-js upstream for tests, scripted by request metadata. Messages are raw bytes (identity
// serializers), so tests control every byte and need no .proto. Records what it saw (metadata, cancellations).
//
// Script keys (request metadata):
//   respond-with-status: N        fail with status N (after streaming `stream-count` messages, if any)
//   respond-with-message: TEXT    the status message
//   respond-with-message-b64: B64 the status message, base64 of UTF-8 (for text metadata cannot carry)
//   respond-with-details: BASE64  grpc-status-details-bin in the trailers
//   delay-ms: N                   wait N ms before answering (the upstream's behaviour, not a test sleep)
//   never-respond: 1              never answer; the call stays open until cancelled
//   stream-count / stream-size    server streaming: how many messages of how many bytes
//   fail-until-attempt: N         UNAVAILABLE for the first N-1 calls carrying the same `x-call-id`
//   retry-pushback-ms: V          grpc-retry-pushback-ms: V (any text, gRFC A6) in the trailers of every failure
//                                 the call answers with (respond-with-status, fail-until-attempt)
//   x-echo-*                      echoed back in response headers and trailers (as many values as sent)

import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';

const identity = (b: Buffer): Buffer => b;

function method(path: string, requestStream: boolean, responseStream: boolean) {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

export const echoDefinition = {
  Unary: method('/test.Echo/Unary', false, false),
  ServerStream: method('/test.Echo/ServerStream', false, true),
  ClientStream: method('/test.Echo/ClientStream', true, false),
  Bidi: method('/test.Echo/Bidi', true, true),
} as const;

export const EchoClient = grpc.makeGenericClientConstructor(echoDefinition as unknown as grpc.ServiceDefinition, 'Echo');
export type EchoClient = InstanceType<typeof EchoClient> & {
  Unary: (req: Buffer, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void) => grpc.ClientUnaryCall;
  ServerStream: (req: Buffer, md: grpc.Metadata, opts?: grpc.CallOptions) => grpc.ClientReadableStream<Buffer>;
  ClientStream: (md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void) => grpc.ClientWritableStream<Buffer>;
  Bidi: (md: grpc.Metadata, opts?: grpc.CallOptions) => grpc.ClientDuplexStream<Buffer, Buffer>;
};

export interface SeenCall {
  readonly method: string;
  readonly metadata: grpc.Metadata;
  /** The deadline grpc-js derived from the grpc-timeout it received (Infinity when none). */
  readonly deadline: grpc.Deadline;
  /** The call's `grpc-previous-rpc-attempts` (gRFC A6: absent on a first attempt), as received. */
  readonly previousRpcAttempts: string | undefined;
  /** performance.now() when the call arrived (same process as the test: comparable with the test's clock). */
  readonly atMs: number;
}

export interface EchoServer {
  readonly port: number;
  readonly address: string;
  readonly server: grpc.Server;
  /** Every call received, in order. */
  readonly calls: SeenCall[];
  /** Emits 'call' (SeenCall) and 'cancelled' (method) events. */
  readonly events: EventEmitter;
  close(): Promise<void>;
}

function echoed(md: grpc.Metadata): grpc.Metadata {
  const out = new grpc.Metadata();
  for (const [key, values] of Object.entries(md.getMap())) {
    if (!key.startsWith('x-echo-')) continue;
    for (const v of md.get(key)) out.add(key, v);
    void values;
  }
  return out;
}

/** The trailers of a scripted failure: echoed x-echo-* and the scripted pushback. */
function failureTrailers(md: grpc.Metadata): grpc.Metadata {
  const trailers = echoed(md);
  const pushback = md.get('retry-pushback-ms')[0];
  if (pushback !== undefined) trailers.set('grpc-retry-pushback-ms', String(pushback));
  return trailers;
}

function scriptedError(md: grpc.Metadata): grpc.ServiceError | undefined {
  const status = md.get('respond-with-status')[0];
  if (status === undefined) return undefined;
  const b64 = md.get('respond-with-message-b64')[0];
  const message = b64 !== undefined ? Buffer.from(String(b64), 'base64').toString('utf8') : String(md.get('respond-with-message')[0] ?? '');
  const trailers = failureTrailers(md);
  const details = md.get('respond-with-details')[0];
  if (details !== undefined) trailers.set('grpc-status-details-bin', Buffer.from(String(details), 'base64'));
  return Object.assign(new Error(message), {
    code: Number(status),
    details: message,
    metadata: trailers,
  }) as grpc.ServiceError;
}

function behaviourError(b: EchoBehaviour): grpc.ServiceError | undefined {
  if (b.failStatus === undefined) return undefined;
  return Object.assign(new Error('sick endpoint'), { code: b.failStatus, details: 'sick endpoint', metadata: new grpc.Metadata() }) as grpc.ServiceError;
}

function num(md: grpc.Metadata, key: string, def: number): number {
  const v = md.get(key)[0];
  return v === undefined ? def : Number(v);
}

export interface EchoBehaviour {
  /** Every unary call waits this long before answering (a slow endpoint); default 0. */
  readonly delayMs?: number;
  /**
   * While set, every unary call fails with this status (a sick endpoint). Read per call: set or clear it on the
   * object passed to startEcho to make the endpoint fail or recover (issue 4).
   */
  failStatus?: number;
}

export async function startEcho(
  options: grpc.ServerOptions = {},
  behaviour: EchoBehaviour = {},
  credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
): Promise<EchoServer> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 64 << 20,
    'grpc.max_send_message_length': 64 << 20,
    ...options,
  });
  const calls: SeenCall[] = [];
  const events = new EventEmitter();
  const attempts = new Map<string, number>();

  const seen = (methodName: string, call: { metadata: grpc.Metadata; getDeadline(): grpc.Deadline; on(e: 'cancelled', f: () => void): unknown }) => {
    const previous = call.metadata.get('grpc-previous-rpc-attempts')[0];
    const s: SeenCall = {
      method: methodName,
      metadata: call.metadata,
      deadline: call.getDeadline(),
      previousRpcAttempts: previous === undefined ? undefined : String(previous),
      atMs: performance.now(),
    };
    calls.push(s);
    events.emit('call', s);
    call.on('cancelled', () => events.emit('cancelled', methodName));
  };

  const delayThen = (md: grpc.Metadata, f: () => void) => {
    if (md.get('never-respond').length > 0) return;
    const delay = num(md, 'delay-ms', behaviour.delayMs ?? 0);
    if (delay > 0) setTimeout(f, delay);
    else f();
  };

  const failUntil = (md: grpc.Metadata): grpc.ServiceError | undefined => {
    const until = md.get('fail-until-attempt')[0];
    if (until === undefined) return undefined;
    const id = String(md.get('x-call-id')[0] ?? '');
    const n = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, n);
    if (n >= Number(until)) return undefined;
    return Object.assign(new Error(`attempt ${n} fails`), { code: grpc.status.UNAVAILABLE, details: `attempt ${n} fails`, metadata: failureTrailers(md) }) as grpc.ServiceError;
  };

  server.addService(echoDefinition as unknown as grpc.ServiceDefinition, {
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      seen('Unary', call);
      const md = call.metadata;
      delayThen(md, () => {
        const headers = echoed(md);
        if (headers.getMap() && Object.keys(headers.getMap()).length > 0) call.sendMetadata(headers);
        const err = failUntil(md) ?? scriptedError(md) ?? behaviourError(behaviour);
        if (err) cb(err);
        else cb(null, call.request, echoed(md));
      });
    },
    ServerStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      seen('ServerStream', call);
      const md = call.metadata;
      call.sendMetadata(echoed(md));
      const count = num(md, 'stream-count', 3);
      const size = num(md, 'stream-size', 16);
      let i = 0;
      const pump = () => {
        while (i < count) {
          const msg = Buffer.alloc(size, i % 251);
          msg.writeUInt32BE(i, 0);
          i++;
          if (!call.write(msg)) {
            call.once('drain', pump);
            return;
          }
        }
        if (md.get('never-respond').length > 0) return;
        const err = scriptedError(md);
        if (err) call.emit('error', err);
        else call.end(echoed(md));
      };
      delayThen(md, pump);
      if (md.get('never-respond').length > 0) pump();
    },
    ClientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      seen('ClientStream', call);
      const md = call.metadata;
      let total = 0;
      let count = 0;
      call.on('data', (b: Buffer) => {
        total += b.length;
        count++;
      });
      call.on('end', () => {
        const out = Buffer.alloc(8);
        out.writeUInt32BE(count, 0);
        out.writeUInt32BE(total, 4);
        const err = scriptedError(md);
        if (err) cb(err);
        else cb(null, out, echoed(md));
      });
    },
    Bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      seen('Bidi', call);
      const md = call.metadata;
      call.sendMetadata(echoed(md));
      call.on('data', (b: Buffer) => call.write(b));
      call.on('end', () => {
        const err = scriptedError(md);
        if (err) call.emit('error', err);
        else call.end(echoed(md));
      });
    },
  });

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    address: `127.0.0.1:${port}`,
    server,
    calls,
    events,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

/** A client for the echo service at `address`; `authority` sets :authority (what the outbound side routes by). */
export function echoClient(
  address: string,
  authority?: string,
  options: grpc.ChannelOptions = {},
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): EchoClient {
  return new EchoClient(address, credentials, {
    'grpc.max_receive_message_length': 64 << 20,
    'grpc.max_send_message_length': 64 << 20,
    ...(authority ? { 'grpc.default_authority': authority } : {}),
    ...options,
  }) as EchoClient;
}

export interface UnaryResult {
  readonly err: grpc.ServiceError | null;
  readonly response: Buffer | undefined;
  readonly headers: grpc.Metadata | undefined;
  readonly trailers: grpc.Metadata | undefined;
}

/** Makes a unary call and collects everything the client can observe. */
export function unary(client: EchoClient, req: Buffer, md = new grpc.Metadata(), opts: grpc.CallOptions = {}): Promise<UnaryResult> {
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    let trailers: grpc.Metadata | undefined;
    let result: { err: grpc.ServiceError | null; response: Buffer | undefined } | undefined;
    let status = false;
    const finish = () => {
      if (result !== undefined && status) resolve({ ...result, headers, trailers });
    };
    const call = client.Unary(req, md, opts, (err, response) => {
      result = { err, response };
      finish();
    });
    call.on('metadata', (m: grpc.Metadata) => {
      headers = m;
    });
    call.on('status', (s: grpc.StatusObject) => {
      trailers = s.metadata;
      status = true;
      finish();
    });
  });
}
