// SPDX-License-Identifier: Apache-2.0
// Waits for a condition that some asynchronous work will make true (no fixed sleeps): re-checks after every turn
// of the event loop's timers phase and fails with `label` after `timeoutMs`.

export function waitUntil(predicate: () => boolean, label: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (predicate()) return resolve();
      if (performance.now() > deadline) return reject(new Error(`timed out waiting for: ${label}`));
      setTimeout(check, 5);
    };
    check();
  });
}
