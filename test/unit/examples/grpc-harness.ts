// SPDX-License-Identifier: Apache-2.0
// Test helpers for the example services: a grpc.Server on 127.0.0.1:0 with given services, plain clients, and
// small await helpers. Every server made here must be closed by the test (afterEach).

import * as grpc from '@grpc/grpc-js';

/** A server bound on loopback, port 0. */
export interface TestServer {
  address: string;
  close(): Promise<void>;
}

/** Serves `services` ([definition, implementation] pairs) on 127.0.0.1:0. */
export async function serve(
  services: Array<[grpc.ServiceDefinition, grpc.UntypedServiceImplementation]>,
): Promise<TestServer> {
  const server = new grpc.Server();
  for (const [definition, implementation] of services) server.addService(definition, implementation);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  return {
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

/** A plaintext client; `authority` sets grpc.default_authority. */
export function clientFor(address: string, authority?: string): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure(), authority ? { 'grpc.default_authority': authority } : {});
}

/** Every item of an async iterable. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** The status error `promise` rejects with; fails the test when it resolves or rejects with something else. */
export async function rejection(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number') return err as grpc.ServiceError;
    throw err;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** A promise with its resolve function exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves after the current macrotask, i.e. once every pending microtask (promise chain) has run. */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
