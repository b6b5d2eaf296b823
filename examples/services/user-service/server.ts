// SPDX-License-Identifier: Apache-2.0
// Assembles user-service: UserService handlers over a repository, plus grpc.health.v1.Health and server reflection,
// on one grpc.Server.

import * as grpc from '@grpc/grpc-js';

import { createHealthService, HEALTH_PROTO } from '../shared/health.js';
import type { Logger } from '../shared/logger.js';
import { silentLogger } from '../shared/logger.js';
import { addReflection } from '../shared/reflection.js';
import { listen, type ListenOptions, type RunningServer } from '../shared/server.js';
import { createUserHandlers } from './handler.js';
import { createInMemoryUserRepository, type UserRepository } from './repository.js';
import { USER_PROTO, USER_SERVICE_NAME, userServiceDefinition } from './types.js';

/** Options for startUserService. */
export interface UserServiceOptions extends ListenOptions {
  /** Default: the seeded in-memory repository. */
  repository?: UserRepository;
  /** Default: silent. */
  logger?: Logger;
}

/** Starts user-service; health reports SERVING for '' and `user.v1.UserService` once bound. */
export async function startUserService(options: UserServiceOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? silentLogger();
  const server = new grpc.Server();
  const health = createHealthService({ '': 'SERVING', [USER_SERVICE_NAME]: 'SERVING' });
  server.addService(
    userServiceDefinition(),
    createUserHandlers({ repository: options.repository ?? createInMemoryUserRepository(), logger }),
  );
  server.addService(health.definition, health.implementation);
  addReflection(server, [USER_PROTO, HEALTH_PROTO]);
  return listen(server, health, options);
}
