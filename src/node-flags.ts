// SPDX-License-Identifier: Apache-2.0
// The node (V8) flags the sidecar process is started with, in one place. V8 sizes its heap when the isolate starts,
// so these cannot be set from inside the process (v8.setFlagsFromString does not resize the young generation):
// every way meshlet is started passes them on its command line. The Dockerfile's ENTRYPOINT and the shebang of
// src/main.ts (the `meshlet` bin) carry them literally, the demo and the bench take them from here, and
// test/unit/node-flags.test.ts checks that all of them agree. Users who start `node dist/src/main.js` themselves
// add them, or set NODE_OPTIONS.

/**
 * `--max-semi-space-size=8`: V8's young generation at most 2 × 8 MiB instead of 2 × 16 MiB. A sidecar's garbage is
 * almost all per-call objects that die young (decisions §17), so V8 would grow the young generation to its maximum
 * for nothing; at 8 MiB the same-run A/B measured no CPU cost in any scenario and 11-15 MiB less RSS under load,
 * while 2 and 4 MiB cost 7-14 % CPU per call and up to 45 % at 64 KiB messages (decisions §18).
 */
export const MESHLET_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];
