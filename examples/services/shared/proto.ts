// SPDX-License-Identifier: Apache-2.0
// Loads .proto files at runtime with @grpc/proto-loader and hands out typed service and method definitions.
// The one module where the untyped proto-loader output is narrowed to the message types declared by each service.

import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

import { fromRoot } from './project-root.js';

/**
 * Options shared by every example: lowerCamelCase field names (`page_size` → `pageSize`), 64-bit integers and enums
 * as strings, proto3 defaults filled in, and `optional` fields left `undefined` when absent (synthetic oneofs).
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

const packages = new Map<string, protoLoader.PackageDefinition>();

/**
 * Everything the .proto at `protoPath` (segments under the repository root) defines, with the file descriptors
 * server reflection answers from. Files are parsed once per process.
 */
export function loadPackage(protoPath: readonly string[]): protoLoader.PackageDefinition {
  const file = fromRoot(...protoPath);
  let pkg = packages.get(file);
  if (pkg === undefined) {
    pkg = protoLoader.loadSync(file, PROTO_LOADER_OPTIONS);
    packages.set(file, pkg);
  }
  return pkg;
}

/**
 * The service `fullName` (e.g. `user.v1.UserService`) from the .proto at `protoPath` (see {@link loadPackage}).
 * @throws Error when the file has no such service.
 */
export function loadService(protoPath: readonly string[], fullName: string): grpc.ServiceDefinition {
  const file = fromRoot(...protoPath);
  const def = loadPackage(protoPath)[fullName];
  if (def === undefined || 'format' in def) throw new Error(`${file} defines no service ${fullName}`);
  return def as grpc.ServiceDefinition;
}

/**
 * Method `name` of `service`, typed with the caller's request/response shapes. The types are a promise the caller makes
 * about the .proto (proto-loader cannot check them); keep them next to the .proto they mirror.
 * @throws Error when the service has no such method.
 */
export function methodOf<Req, Res>(service: grpc.ServiceDefinition, name: string): grpc.MethodDefinition<Req, Res> {
  const method = service[name];
  if (method === undefined) throw new Error(`service has no method ${name}`);
  return method as grpc.MethodDefinition<Req, Res>;
}
