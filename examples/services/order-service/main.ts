// SPDX-License-Identifier: Apache-2.0
// order-service process entry: `USER_SERVICE_ADDR=127.0.0.1:4140 node dist/examples/services/order-service/main.js
// --port 50052`. USER_SERVICE_ADDR is the local sidecar's outbound listener; USER_SERVICE_AUTHORITY (default
// user-service) is the backend name it routes on.

import { runService } from '../shared/run-service.js';
import { startOrderService } from './server.js';

await runService({
  name: 'order-service',
  defaultPort: 50052,
  start: (listenOn, logger) => {
    const userServiceAddress = process.env.USER_SERVICE_ADDR ?? '127.0.0.1:4140';
    logger.info({ userServiceAddress }, 'calling user-service through the sidecar');
    return startOrderService({
      ...listenOn,
      logger,
      userServiceAddress,
      ...(process.env.USER_SERVICE_AUTHORITY && { userServiceAuthority: process.env.USER_SERVICE_AUTHORITY }),
    });
  },
});
