// SPDX-License-Identifier: Apache-2.0
// Test runner configuration: unit and integration suites, bounded in time.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start real servers; two cores means two workers is the honest maximum.
    pool: 'forks',
    maxWorkers: 2,
  },
});
