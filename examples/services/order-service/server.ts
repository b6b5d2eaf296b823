// SPDX-License-Identifier: Apache-2.0
// Assembles order-service: OrderService handlers (orders repository + user-service client), plus
// grpc.health.v1.Health and server reflection, on one grpc.Server. Health does not follow user-service: a
// dependency's outage must not take this service out of its own load balancers (it answers UNAVAILABLE per call
// instead).

import * as grpc from '@grpc/grpc-js';

import { createHealthService, HEALTH_PROTO } from '../shared/health.js';
import type { Logger } from '../shared/logger.js';
import { silentLogger } from '../shared/logger.js';
import { addReflection } from '../shared/reflection.js';
import { listen, type ListenOptions, type RunningServer } from '../shared/server.js';
import { createOrderHandlers } from './handler.js';
import { createInMemoryOrderRepository, type OrderRepository } from './repository.js';
import { ORDER_PROTO, ORDER_SERVICE_NAME, orderServiceDefinition } from './types.js';
import { createUserClient } from './user-client.js';

/** Options for startOrderService. */
export interface OrderServiceOptions extends ListenOptions {
  /** Where user-service calls go: the local sidecar's outbound listener, e.g. `127.0.0.1:4140`. */
  userServiceAddress: string;
  /** `:authority` of user-service calls. Default `user-service`. */
  userServiceAuthority?: string;
  /** Cap on each user-service call's deadline. Default 2000 ms; range 1-600000. */
  downstreamTimeoutMs?: number;
  /** Default: the seeded in-memory repository. */
  repository?: OrderRepository;
  /** Default: silent. */
  logger?: Logger;
}

/** Starts order-service; close() also closes its user-service channel. */
export async function startOrderService(options: OrderServiceOptions): Promise<RunningServer> {
  const logger = options.logger ?? silentLogger();
  const users = createUserClient({
    address: options.userServiceAddress,
    ...(options.userServiceAuthority !== undefined && { authority: options.userServiceAuthority }),
  });
  const server = new grpc.Server();
  const health = createHealthService({ '': 'SERVING', [ORDER_SERVICE_NAME]: 'SERVING' });
  server.addService(
    orderServiceDefinition(),
    createOrderHandlers({
      orders: options.repository ?? createInMemoryOrderRepository(),
      users,
      logger,
      ...(options.downstreamTimeoutMs !== undefined && { downstreamTimeoutMs: options.downstreamTimeoutMs }),
    }),
  );
  server.addService(health.definition, health.implementation);
  addReflection(server, [ORDER_PROTO, HEALTH_PROTO]);
  let running: RunningServer;
  try {
    running = await listen(server, health, options);
  } catch (err) {
    users.close();
    throw err;
  }
  return {
    ...running,
    close: (graceMs) => running.close(graceMs).finally(() => users.close()),
  };
}
