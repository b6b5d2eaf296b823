// SPDX-License-Identifier: Apache-2.0
// `npm run bench -- --suite ratelimit`: suite selection, flags with their defaults, and the report's ratios.
import { describe, expect, it } from 'vitest';
import { splitSuite } from '../../../bench/args.js';
import { parseRateLimitArgs } from '../../../bench/ratelimit-args.js';
import { formatRateLimitReport } from '../../../bench/ratelimit.js';

describe('--suite ratelimit', () => {
  it('is a suite name', () => {
    expect(splitSuite(['--suite', 'ratelimit', '--quick'])).toEqual({ suite: 'ratelimit', rest: ['--quick'] });
  });

  it('defaults to every path and both arrival patterns, 3 runs of 10 s at 1000 calls/s; --quick is 1 run of 3 s', () => {
    expect(parseRateLimitArgs([])).toMatchObject({ suite: 'ratelimit', paths: ['none', 'local', 'global'], arrivals: ['burst', 'spread'], runs: 3, seconds: 10, rate: 1000 });
    expect(parseRateLimitArgs(['--quick'])).toMatchObject({ runs: 1, seconds: 3, warmupSeconds: 1 });
    expect(parseRateLimitArgs(['--only', 'global,none'])).toMatchObject({ paths: ['none', 'global'] });
    expect(parseRateLimitArgs(['--arrivals', 'spread'])).toMatchObject({ arrivals: ['spread'] });
    expect(() => parseRateLimitArgs(['--arrivals', 'poisson'])).toThrow("--arrivals: unknown name 'poisson' (burst, spread)");
    expect(() => parseRateLimitArgs(['--only', 'redis'])).toThrow("--only: unknown name 'redis'");
    expect(() => parseRateLimitArgs(['--rate', '0'])).toThrow('--rate: expected an integer 1-1000000');
  });

  it('reports, per arrival pattern, medians and their ratios to the path without limits in the same pattern', () => {
    const load = (p99Us: number) => ({ reqPerSec: 1000, done: 1000, succeeded: 1000, failed: 0, errored: 0, timeout: 0, p50Us: 100, p99Us });
    const burst = { arrivals: 'burst' as const, clustered: 0.9 };
    const spread = { arrivals: 'spread' as const, clustered: 0.2 };
    const text = formatRateLimitReport([
      { path: 'none', run: 1, ...burst, load: load(1000), cpuUsPerCall: 100, redisCpuUsPerCall: undefined },
      { path: 'local', run: 1, ...burst, load: load(1100), cpuUsPerCall: 105, redisCpuUsPerCall: undefined },
      { path: 'global', run: 1, ...burst, load: load(1200), cpuUsPerCall: 110, redisCpuUsPerCall: 0.5 },
      { path: 'none', run: 1, ...spread, load: load(500), cpuUsPerCall: 200, redisCpuUsPerCall: undefined },
      { path: 'local', run: 1, ...spread, load: load(600), cpuUsPerCall: 220, redisCpuUsPerCall: undefined },
    ]);
    expect(text.split('\n').map((l) => l.trim().split(/\s+/))).toEqual([
      ['burst', 'arrivals', '(clustered', '0.90)'],
      ['path', 'sidecar', 'µs', 'CPU/call', 'p99', 'ms', 'CPU', 'vs', 'none', 'p99', 'vs', 'none', 'redis', 'µs', 'CPU/call'],
      ['none', '100.0', '1.00', '1.000×', '1.000×'],
      ['local', '105.0', '1.10', '1.050×', '1.100×'],
      ['global', '110.0', '1.20', '1.100×', '1.200×', '0.50'],
      [''],
      ['spread', 'arrivals', '(clustered', '0.20)'],
      ['path', 'sidecar', 'µs', 'CPU/call', 'p99', 'ms', 'CPU', 'vs', 'none', 'p99', 'vs', 'none', 'redis', 'µs', 'CPU/call'],
      ['none', '200.0', '0.50', '1.000×', '1.000×'],
      ['local', '220.0', '0.60', '1.100×', '1.200×'],
    ]);
  });
});
