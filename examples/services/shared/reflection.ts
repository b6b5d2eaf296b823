// SPDX-License-Identifier: Apache-2.0
// gRPC server reflection for the example services (grpc.reflection.v1 and v1alpha, from @grpc/reflection), so
// grpcurl and similar tools can list and call them, directly or through a meshlet sidecar, without the .proto files.

import type * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';

import { loadPackage } from './proto.js';

/**
 * Registers both reflection versions on `server`, describing every service the given .proto files define (paths as
 * segments under the repository root, e.g. `USER_PROTO`, `HEALTH_PROTO`). Call once per server, before it binds.
 */
export function addReflection(server: Pick<grpc.Server, 'addService'>, protoPaths: ReadonlyArray<readonly string[]>): void {
  const merged = Object.assign({}, ...protoPaths.map((p) => loadPackage(p))) as ReturnType<typeof loadPackage>;
  new ReflectionService(merged).addToServer(server);
}
