// SPDX-License-Identifier: Apache-2.0
// Starts the benchmark's upstream app (bench/upstream.ts) as its own tracked process and asks it, over IPC, how many
// calls it has completed. Shared by both suites (bench/run.ts, bench/mtls.ts).

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppKind } from './args.js';
import type { UpstreamMessage, UpstreamRequest } from './grpc-wire.js';
import { logTail, spawnTracked, type Tracked } from './processes.js';

const UPSTREAM_JS = fileURLToPath(new URL('./upstream.js', import.meta.url));

/** The upstream app process, plus a way to ask how many calls it has completed. */
export interface Upstream {
  process: Tracked;
  port: number;
  calls(): Promise<number>;
}

/**
 * Starts the app (`kind` implementation), logging to `<workDir>/upstream.log`; rejects if not ready in 10 s.
 * `windowBytes`: the node-http2 app's connection receive window (default node's 65,535).
 */
export async function startUpstream(workDir: string, kind: AppKind, windowBytes?: number, maxStreams?: number): Promise<Upstream> {
  const tuning = windowBytes === undefined && maxStreams === undefined ? [] : [String(windowBytes ?? '-'), String(maxStreams ?? '-')];
  const upstream = spawnTracked('upstream', process.execPath, [UPSTREAM_JS, kind, ...tuning], {
    logPath: path.join(workDir, 'upstream.log'),
    ipc: true,
  });
  const child = upstream.child;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('upstream did not report ready within 10 s')), 10_000);
    child.on('message', (m: UpstreamMessage) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve(m.port);
      }
    });
    void upstream.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`upstream exited (${code}):\n${logTail(upstream.logPath)}`));
    });
  });
  const calls = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`upstream did not answer stats:\n${logTail(upstream.logPath)}`)), 5000);
      const onMessage = (m: UpstreamMessage): void => {
        if (m.type !== 'stats') return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(m.calls);
      };
      child.on('message', onMessage);
      child.send({ type: 'stats' } satisfies UpstreamRequest);
    });
  return { process: upstream, port, calls };
}
