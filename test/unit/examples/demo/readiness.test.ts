// SPDX-License-Identifier: Apache-2.0
// Readiness probes and the bounded poll loop: sidecar /ready over HTTP, app health over gRPC, deadline and abort.

import { createServer, type Server } from 'node:http';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { grpcServing, httpOk, NotReadyError, waitFor } from '../../../../examples/demo/readiness.js';
import type { RunningServer } from '../../../../examples/services/shared/server.js';
import { startUserService } from '../../../../examples/services/user-service/server.js';

describe('waitFor', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves as soon as the probe passes, probing once per interval', async () => {
    vi.useFakeTimers();
    const answers = [false, false, true];
    const probe = vi.fn(async () => answers.shift() ?? true);
    const done = waitFor('thing', probe, { deadlineMs: Date.now() + 10_000, intervalMs: 100 });
    await vi.advanceTimersByTimeAsync(200);
    await done;
    expect(probe).toHaveBeenCalledTimes(3);
  });

  it('treats a rejecting probe as not ready yet', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const done = waitFor('thing', async () => {
      if (++calls < 2) throw new Error('ECONNREFUSED');
      return true;
    }, { deadlineMs: Date.now() + 10_000 });
    await vi.advanceTimersByTimeAsync(100);
    await done;
    expect(calls).toBe(2);
  });

  it('rejects with NotReadyError naming the thing once the deadline has passed', async () => {
    vi.useFakeTimers();
    const done = waitFor('user-service sidecar', async () => false, { deadlineMs: Date.now() + 1000, intervalMs: 100 });
    const outcome = expect(done).rejects.toThrow(new NotReadyError('user-service sidecar', 1000));
    await vi.advanceTimersByTimeAsync(1100);
    await outcome;
  });

  it('rejects with the abort reason when aborted while waiting', async () => {
    const abort = new AbortController();
    const done = waitFor('thing', async () => false, { deadlineMs: Date.now() + 60_000, intervalMs: 60_000, signal: abort.signal });
    abort.abort(new Error('SIGINT'));
    await expect(done).rejects.toThrow('SIGINT');
  });
});

describe('httpOk', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('is true only for HTTP 200', async () => {
    let status = 503;
    server = createServer((_req, res) => {
      res.writeHead(status);
      res.end();
    });
    const s = server;
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(s.address() as { port: number }).port}/ready`;
    expect(await httpOk(url)).toBe(false);
    status = 200;
    expect(await httpOk(url)).toBe(true);
  });

  it('is false when nothing listens', async () => {
    server = createServer();
    const s = server;
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const port = (s.address() as { port: number }).port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    server = undefined;
    expect(await httpOk(`http://127.0.0.1:${port}/ready`)).toBe(false);
  });
});

describe('grpcServing', () => {
  let app: RunningServer | undefined;
  afterEach(async () => {
    await app?.close(0);
    app = undefined;
  });

  it('is true while the app says SERVING and false once it does not', async () => {
    app = await startUserService();
    expect(await grpcServing(app.address)).toBe(true);
    expect(await grpcServing(app.address, 'user.v1.UserService')).toBe(true);
    expect(await grpcServing(app.address, 'no.such.Service')).toBe(false);
    app.health.setStatus('', 'NOT_SERVING');
    expect(await grpcServing(app.address)).toBe(false);
  });

  it('is false when nothing listens', async () => {
    app = await startUserService();
    const address = app.address;
    await app.close(0);
    app = undefined;
    expect(await grpcServing(address, '', 500)).toBe(false);
  });
});
