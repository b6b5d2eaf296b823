// SPDX-License-Identifier: Apache-2.0
// Command-line flags of `npm run bench -- --suite ratelimit` (bench/ratelimit.ts), with their defaults; bench/args.ts
// picks the suite.

import { parseArgs } from 'node:util';
import { intFlag, pickList } from './args.js';
import { ARRIVALS, type Arrivals } from './h2load.js';

/**
 * The inbound sidecars compared, in the order they take turns within a run (all `meshlet run` in front of the
 * same app, access log off):
 * - `none`: no rate limit (the baseline);
 * - `local`: one local limit on every call (`rate` 2× the offered load, so it admits every call);
 * - `global`: the same limit with `scope: global`, leasing from a redis-server the suite starts.
 */
export const RATELIMIT_PATHS = ['none', 'local', 'global'] as const;
export type RateLimitPath = (typeof RATELIMIT_PATHS)[number];

export interface RateLimitOptions {
  suite: 'ratelimit';
  /** Paths (`--only`). Default all three. */
  paths: readonly RateLimitPath[];
  /** Repetitions; reported numbers are medians with every run's value. Default 3 (`--quick`: 1). Range 1-15. */
  runs: number;
  /** Offered calls/s across all h2load connections. Default 1000. */
  rate: number;
  /** h2load connections (`-c`). Default 10. */
  clients: number;
  /** h2load max concurrent streams per connection (`-m`). Default 10. */
  streams: number;
  /**
   * Arrival patterns (`--arrivals`), each measured for every path in every run: `burst` = one h2load, whose
   * connections fire together; `spread` = one h2load per connection, started apart (bench/h2load.ts). Default both.
   */
  arrivals: readonly Arrivals[];
  /** Measurement length per path per run. Default 10 s (`--quick`: 3 s). */
  seconds: number;
  /** Unmeasured warm-up per path before the first run. Default 2 s (`--quick`: 1 s). */
  warmupSeconds: number;
  /** Protobuf payload of the unary request in bytes. Default 16. */
  payloadBytes: number;
  /** dist/src/main.js of the meshlet build to run (`--meshlet-main`). Default: this tree's dist. */
  meshletMain: string | undefined;
}

export const RATELIMIT_USAGE = `Usage: npm run bench -- --suite ratelimit [options]
  Per-call CPU and p99 latency a rate limit adds to an inbound sidecar at a fixed offered rate: no limit, a local
  limit, a global limit (Redis leases; needs redis-server), as ratios to the run without limits.
  --quick              1 run, 3 s per path
  --runs N             repetitions (default 3)
  --only a,b           paths: ${RATELIMIT_PATHS.join(', ')}
  --rate N             offered calls/s (default 1000); the limit is 2× this, so every call is admitted
  --clients N          h2load connections (default 10)
  --streams N          h2load streams per connection (default 10)
  --arrivals LIST      ${ARRIVALS.join(',')} (default both): burst = one h2load whose connections fire together;
                       spread = one h2load per connection, started 1/rate apart, so calls arrive one by one
  --seconds N          measurement per path per run (default 10)
  --meshlet-main PATH  dist/src/main.js of the build to measure`;


/** Parses the suite's flags; 'help' for --help. Throws with a message naming the bad flag. */
export function parseRateLimitArgs(argv: readonly string[]): RateLimitOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      help: { type: 'boolean' },
      quick: { type: 'boolean' },
      runs: { type: 'string' },
      only: { type: 'string' },
      rate: { type: 'string' },
      clients: { type: 'string' },
      streams: { type: 'string' },
      arrivals: { type: 'string' },
      seconds: { type: 'string' },
      'meshlet-main': { type: 'string' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const quick = values.quick ?? false;
  let paths: readonly RateLimitPath[] = RATELIMIT_PATHS;
  if (values.only !== undefined) paths = pickList('only', values.only, RATELIMIT_PATHS);
  return {
    suite: 'ratelimit',
    paths,
    runs: intFlag('runs', values.runs, quick ? 1 : 3, 1, 15),
    rate: intFlag('rate', values.rate, 1000, 1, 1_000_000),
    clients: intFlag('clients', values.clients, 10, 1, 1000),
    streams: intFlag('streams', values.streams, 10, 1, 1000),
    arrivals: values.arrivals === undefined ? ARRIVALS : pickList('arrivals', values.arrivals, ARRIVALS),
    seconds: intFlag('seconds', values.seconds, quick ? 3 : 10, 1, 3600),
    warmupSeconds: quick ? 1 : 2,
    payloadBytes: 16,
    meshletMain: values['meshlet-main'],
  };
}
