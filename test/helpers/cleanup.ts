// SPDX-License-Identifier: Apache-2.0
// Per-test cleanup for integration tests: everything deferred during a test is closed after it, newest first
// (clients before sidecars before upstreams), even when the test failed.

import { afterEach } from 'vitest';

/** Registers the afterEach hook in the calling test file; returns `defer(fn)` to run `fn` after the current test. */
export function useCleanup(): (fn: () => unknown) => void {
  const pending: Array<() => unknown> = [];
  afterEach(async () => {
    while (pending.length > 0) await pending.pop()?.();
  });
  return (fn) => {
    pending.push(fn);
  };
}
