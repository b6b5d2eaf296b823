// SPDX-License-Identifier: Apache-2.0
// gRFC A6 on the wire, over a stub terminal: the attempt count on re-sent attempts and the server's pushback.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProxyError } from '../../../../src/errors.js';
import { parsePreviousAttempts, parsePushback } from '../../../../src/grpc/retry-metadata.js';
import { Status } from '../../../../src/grpc/status.js';
import type { ProxyCall } from '../../../../src/proxy/call.js';
import { ProxyReply } from '../../../../src/proxy/call.js';
import type { Handler } from '../../../../src/proxy/layer.js';
import { retryLayer } from '../../../../src/proxy/layers/retry.js';
import { PolicyStore } from '../../../../src/policy/store.js';
import { BackendStates } from '../../../../src/resilience/backend-state.js';
import { countingEvents, makeCall, policy } from './resilience-harness.js';
import { upstreamHeaders } from '../../../helpers/upstream-headers.js';

/** A Trailers-Only reply with `status` and, when given, the server's `grpc-retry-pushback-ms`. */
function answer(status: number, pushback?: string | string[]): ProxyReply {
  const headers: Record<string, string | string[]> = { ':status': '200', 'grpc-status': String(status) };
  if (pushback !== undefined) headers['grpc-retry-pushback-ms'] = pushback;
  const reply = new ProxyReply(headers, null);
  reply.finish({ status, message: undefined, error: undefined });
  return reply;
}

/** A terminal that answers attempt n with `script[n]` (the last entry repeats) and records what each attempt carried. */
function scripted(script: ReadonlyArray<() => ProxyReply>) {
  const seen: Array<string | undefined> = [];
  const handler: Handler = (call: ProxyCall) => {
    const n = seen.length;
    seen.push(upstreamHeaders(call)['grpc-previous-rpc-attempts'] as string | undefined);
    call.endpoint = `10.0.0.${n + 1}:80`;
    return Promise.resolve((script[Math.min(n, script.length - 1)] as () => ProxyReply)());
  };
  return { handler, seen };
}

function setup(yaml: string, random = () => 0) {
  const events = countingEvents();
  const states = new BackendStates(new PolicyStore(policy(yaml)), { events });
  return { events, layer: retryLayer({ states, events, random }) };
}

const RETRY_UNAVAILABLE = 'defaults:\n  retry: { retryOn: [unavailable], maxRetries: 3 }\n';

afterEach(() => {
  vi.useRealTimers();
});

describe('grpc-previous-rpc-attempts (gRFC A6, Exposed Retry Metadata)', () => {
  it('is absent on the first attempt and 1, 2, 3 on the re-sent ones', async () => {
    const { layer } = setup(RETRY_UNAVAILABLE);
    const t = scripted([() => answer(Status.UNAVAILABLE)]);
    expect((await layer(t.handler)(makeCall('a'))).end?.status).toBe(Status.UNAVAILABLE);
    expect(t.seen).toEqual([undefined, '1', '2', '3']);
  });

  it('counts re-sends of attempts that never reached the app too', async () => {
    const { layer } = setup('routes: []\n');
    const seen: Array<string | undefined> = [];
    const handler: Handler = (call) => {
      seen.push(upstreamHeaders(call)['grpc-previous-rpc-attempts'] as string | undefined);
      if (seen.length < 3) return Promise.reject(new ProxyError('ERR_UPSTREAM_REFUSED_STREAM', 'refused', { neverReachedApp: true }));
      return Promise.resolve(answer(Status.OK));
    };
    await layer(handler)(makeCall('a'));
    expect(seen).toEqual([undefined, '1', '2']);
  });

  it('adds meshlet\'s attempts to the count a retrying client already sent', async () => {
    const { layer } = setup(RETRY_UNAVAILABLE);
    const t = scripted([() => answer(Status.UNAVAILABLE), () => answer(Status.OK)]);
    const call = makeCall('a');
    call.headers['grpc-previous-rpc-attempts'] = '2';
    await layer(t.handler)(call);
    expect(t.seen).toEqual(['2', '3']);
  });

  it('reads a client count only when it is one non-negative integer', () => {
    expect(parsePreviousAttempts(undefined)).toBe(0);
    expect(parsePreviousAttempts('4')).toBe(4);
    for (const bad of ['-1', 'x', '01', '', '1.5']) expect(parsePreviousAttempts(bad), bad).toBe(0);
    expect(parsePreviousAttempts(['1', '2'])).toBe(0);
  });
});

describe('grpc-retry-pushback-ms (gRFC A6, Pushback)', () => {
  it('a non-negative value is the delay before the retry instead of the backoff, and the backoff then starts over', async () => {
    vi.useFakeTimers();
    // The backoff would draw 500 ms (random 0.5 of base 1000) for the first retry and 1000 ms for the second.
    const { layer, events } = setup('defaults:\n  retry: { retryOn: [unavailable], maxRetries: 3, backoff: { baseMs: 1000, maxMs: 8000 } }\n', () => 0.5);
    const t = scripted([() => answer(Status.UNAVAILABLE, '300'), () => answer(Status.UNAVAILABLE), () => answer(Status.OK)]);
    const done = layer(t.handler)(makeCall('a'));
    await vi.advanceTimersByTimeAsync(299);
    expect(t.seen).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.seen).toHaveLength(2);
    // After a pushback the delay resets to the initial backoff: 500 ms, not the 1000 ms of a second retry.
    await vi.advanceTimersByTimeAsync(499);
    expect(t.seen).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect((await done).end?.status).toBe(Status.OK);
    expect(t.seen).toEqual([undefined, '1', '2']);
    expect(events.count('retry:a:status')).toBe(2);
    expect(events.count('pushback:a')).toBe(1);
  });

  it('0 means retry at once, even when the backoff would wait', async () => {
    vi.useFakeTimers();
    const { layer } = setup('defaults:\n  retry: { retryOn: [unavailable], backoff: { baseMs: 5000, maxMs: 5000 } }\n', () => 0.99);
    const t = scripted([() => answer(Status.UNAVAILABLE, '0'), () => answer(Status.OK)]);
    const done = layer(t.handler)(makeCall('a'));
    await vi.advanceTimersByTimeAsync(0);
    expect((await done).end?.status).toBe(Status.OK);
    expect(t.seen).toHaveLength(2);
  });

  it.each([['-1'], ['-300'], ['abc'], [''], ['007'], ['1.5'], [' 10'], ['-0'], ['2147483648'], [['10', '20']]])(
    'a negative or malformed value (%j) means no retry, counted as a pushback give-up',
    async (value) => {
      const { layer, events } = setup(RETRY_UNAVAILABLE);
      const t = scripted([() => answer(Status.UNAVAILABLE, value), () => answer(Status.OK)]);
      expect((await layer(t.handler)(makeCall('a'))).end?.status).toBe(Status.UNAVAILABLE);
      expect(t.seen).toHaveLength(1);
      expect(events.count('giveUp:a:pushback')).toBe(1);
      expect(events.count('retry:a:status')).toBe(0);
    },
  );

  it('never lifts the deadline: a pushback past it is not waited for', async () => {
    const { layer, events } = setup(RETRY_UNAVAILABLE);
    const call = makeCall('a');
    call.deadlineMs = performance.now() + 1000;
    const t = scripted([() => answer(Status.UNAVAILABLE, '60000'), () => answer(Status.OK)]);
    expect((await layer(t.handler)(call)).end?.status).toBe(Status.UNAVAILABLE);
    expect(t.seen).toHaveLength(1);
    expect(events.count('giveUp:a:deadline')).toBe(1);
    expect(events.count('pushback:a')).toBe(0);
  });

  it('never lifts maxRetries nor the budget', async () => {
    const limited = setup('defaults:\n  retry: { retryOn: [unavailable], maxRetries: 1 }\n');
    const t1 = scripted([() => answer(Status.UNAVAILABLE, '0')]);
    await limited.layer(t1.handler)(makeCall('a'));
    expect(t1.seen).toHaveLength(2);
    expect(limited.events.count('giveUp:a:max_retries')).toBe(1);

    const broke = setup('defaults:\n  retry: { retryOn: [unavailable] }\n  retryBudget: { retryPercent: 0, minRetriesPerSecond: 0 }\n');
    const t2 = scripted([() => answer(Status.UNAVAILABLE, '0')]);
    await broke.layer(t2.handler)(makeCall('a'));
    expect(t2.seen).toHaveLength(1);
    expect(broke.events.count('budget:a')).toBe(1);
  });

  it('is ignored on a status not in retryOn, which is never retried anyway', async () => {
    const { layer, events } = setup(RETRY_UNAVAILABLE);
    const t = scripted([() => answer(Status.INTERNAL, '-1')]);
    expect((await layer(t.handler)(makeCall('a'))).end?.status).toBe(Status.INTERNAL);
    expect(events.count('giveUp:a:pushback')).toBe(0);
  });

  it('parses the gRFC A6 format: a signed 32-bit integer without unnecessary leading zeros', () => {
    expect(parsePushback(undefined)).toEqual({ kind: 'none' });
    expect(parsePushback('0')).toEqual({ kind: 'delay', delayMs: 0 });
    expect(parsePushback('2147483647')).toEqual({ kind: 'delay', delayMs: 2147483647 });
    expect(parsePushback(['25'])).toEqual({ kind: 'delay', delayMs: 25 });
    expect(parsePushback('-5')).toEqual({ kind: 'stop' });
  });
});
