// SPDX-License-Identifier: Apache-2.0
// user-service process entry: `node dist/examples/services/user-service/main.js --port 50051` (or PORT env).

import { runService } from '../shared/run-service.js';
import { startUserService } from './server.js';

await runService({
  name: 'user-service',
  defaultPort: 50051,
  start: (listenOn, logger) => startUserService({ ...listenOn, logger }),
});
