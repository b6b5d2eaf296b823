// SPDX-License-Identifier: Apache-2.0
// bench/h2load.ts: the h2load command line, its summary parsing, and percentiles from its per-request log.

import { describe, expect, it } from 'vitest';
import { clusteredShare, h2loadArgs, latencyPercentiles, parseH2loadSummary, startTimes, type LoadSpec } from '../../../bench/h2load.js';

/** The summary part of real h2load 1.52 output (unrelated lines trimmed). */
const OUTPUT = `starting benchmark...
spawning thread #0: 10 total client(s). 240000 total requests
Application protocol: h2c

finished in 6.00s, 8751.17 req/s, 427.31KB/s
requests: 52507 total, 52607 started, 52507 done, 52490 succeeded, 17 failed, 3 errored, 1 timeout
status codes: 52507 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 2.50MB (2625350) total, 256.48KB (262635) headers (space savings 91.67%), 1.20MB (1260168) data
`;

describe('parseH2loadSummary', () => {
  it('reads req/s and every request counter', () => {
    expect(parseH2loadSummary(OUTPUT)).toEqual({
      reqPerSec: 8751.17,
      done: 52507,
      succeeded: 52490,
      failed: 17,
      errored: 3,
      timeout: 1,
    });
  });

  it('throws with the output tail when the summary is missing (h2load could not connect)', () => {
    expect(() => parseH2loadSummary('starting benchmark...\nNo protocol negotiated. Aborted.')).toThrow(/unexpected h2load output[\s\S]*Aborted/);
  });
});

describe('latencyPercentiles', () => {
  const line = (status: number, us: number): string => `1795325745853000\t${status}\t${us}`;

  it('returns nearest-rank p50 and p99 over successful requests only', () => {
    // 100 successes of 1..100 µs, plus failures (status -1) that must not count even with huge durations.
    const lines = Array.from({ length: 100 }, (_, i) => line(200, 100 - i));
    lines.push(line(-1, 1_000_000), line(-1, 2_000_000));
    expect(latencyPercentiles(`${lines.join('\n')}\n`)).toEqual({ p50Us: 50, p99Us: 99 });
  });

  it('uses the largest value as p99 when there are fewer than 100 requests', () => {
    expect(latencyPercentiles([line(200, 30), line(200, 10), line(200, 20)].join('\n'))).toEqual({ p50Us: 20, p99Us: 30 });
  });

  it('returns NaN for an empty or all-failed log', () => {
    expect(latencyPercentiles('')).toEqual({ p50Us: NaN, p99Us: NaN });
    expect(latencyPercentiles(line(-1, 5))).toEqual({ p50Us: NaN, p99Us: NaN });
  });
});

describe('h2loadArgs', () => {
  const spec: LoadSpec = {
    bin: '/usr/bin/h2load',
    port: 4242,
    bodyPath: '/tmp/unary.bin',
    clients: 10,
    streams: 10,
    seconds: 8,
    rpsPerClient: 400,
    logPath: '/tmp/run.tsv',
  };

  it('sends a gRPC POST with te: trailers and paces each connection in fixed-rate mode', () => {
    const args = h2loadArgs(spec);
    expect(args).toContain('--header=content-type: application/grpc');
    expect(args).toContain('--header=te: trailers');
    expect(args).toContain('--rps=400');
    expect(args).toContain('--data=/tmp/unary.bin');
    expect(args.at(-1)).toBe('http://127.0.0.1:4242/bench.Echo/Unary');
  });

  it('has no --rps in unlimited mode', () => {
    expect(h2loadArgs({ ...spec, rpsPerClient: undefined }).some((a) => a.startsWith('--rps'))).toBe(false);
  });
});

describe('clusteredShare and startTimes', () => {
  it('counts calls that started within the window of the call before them, in any order', () => {
    // Two bursts of three calls 10 ms apart: 4 of 5 gaps are under 100 µs.
    expect(clusteredShare([10_000, 0, 10, 10_020, 20, 10_040])).toBeCloseTo(4 / 5);
    // One call every millisecond: none.
    expect(clusteredShare([0, 1000, 2000, 3000])).toBe(0);
    expect(clusteredShare([0, 99, 200], 100)).toBeCloseTo(1 / 2);
    expect(clusteredShare([5])).toBeNaN();
  });

  it('reads the start times of the successful requests of a --log-file', () => {
    expect(startTimes('1700000000000100\t200\t812\n1700000000000200\t-1\t0\n1700000000000300\t200\t790\n')).toEqual([
      1700000000000100, 1700000000000300,
    ]);
  });
});
