// SPDX-License-Identifier: Apache-2.0
// Builds the grpc_type lookup of the metrics from config: `metrics.methodTypes` entries, plus every method of the
// services in `metrics.protoFiles` (read once at start with @grpc/proto-loader; only the stream flags are used).

import * as protoLoader from '@grpc/proto-loader';
import { type GrpcType, MethodTypes } from './metrics.js';

/** The grpc_type of a method from its stream flags. */
export function grpcTypeOf(requestStream: boolean, responseStream: boolean): GrpcType {
  if (requestStream) return responseStream ? 'bidi_stream' : 'client_stream';
  return responseStream ? 'server_stream' : 'unary';
}

/**
 * The method types of `protoFiles` and `entries` (entries win over files). Throws with the file name when a
 * file cannot be parsed, so a bad path fails at start rather than showing as `unknown` types.
 */
export function loadMethodTypes(entries: Readonly<Record<string, GrpcType>>, protoFiles: readonly string[]): MethodTypes {
  const types = new MethodTypes();
  for (const file of protoFiles) {
    let pkg: protoLoader.PackageDefinition;
    try {
      pkg = protoLoader.loadSync(file, { keepCase: true });
    } catch (err) {
      throw new Error(`metrics.protoFiles: cannot load ${file}: ${(err as Error).message}`, { cause: err });
    }
    for (const def of Object.values(pkg)) {
      if ('format' in def) continue; // a message or enum type
      for (const m of Object.values(def as protoLoader.ServiceDefinition)) {
        types.set(m.path, grpcTypeOf(m.requestStream, m.responseStream));
      }
    }
  }
  for (const [key, type] of Object.entries(entries)) types.set(key, type);
  return types;
}
