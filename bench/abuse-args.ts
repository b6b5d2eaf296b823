// SPDX-License-Identifier: Apache-2.0
// Command-line flags of `npm run bench -- --suite abuse` (bench/abuse.ts), with their defaults; bench/args.ts picks
// the suite.

import { parseArgs } from 'node:util';
import { intFlag, pickList } from './args.js';
import { type Arrivals, arrivalsFlag } from './h2load.js';

/**
 * What runs beside the well-behaved client, in the order the modes take turns within a run:
 * - `quiet`: nothing (the baseline);
 * - `flood`: one connection after another opening 100,000 streams that never send DATA (bench/abuse-client.ts);
 * - `hold`: 50 connections holding as many open streams as the sidecar allows, each with a 1 KiB message.
 */
export const ABUSE_MODES = ['quiet', 'flood', 'hold'] as const;
export type AbuseMode = (typeof ABUSE_MODES)[number];

export interface AbuseOptions {
  suite: 'abuse';
  /** Modes (`--only`). Default all three. */
  modes: readonly AbuseMode[];
  /** Repetitions; reported numbers are medians with every run's value. Default 3 (`--quick`: 1). Range 1-15. */
  runs: number;
  /** Calls/s the well-behaved client offers (h2load, fixed rate). Default 200. */
  rate: number;
  /** Its connections (`-c`). Default 2. */
  clients: number;
  /**
   * How its calls arrive (`--arrivals`): `burst` = one h2load, whose connections fire together; `spread` = one h2load
   * per connection, started 1/rate apart (bench/h2load.ts). Default burst.
   */
  arrivals: Arrivals;
  /** Measurement length per mode per run. Default 8 s (`--quick`: 3 s). */
  seconds: number;
  /** Requests per flood connection. Default 100,000. */
  floodStreams: number;
  /** Connections of the hold mode. Default 50. */
  holdConnections: number;
  /** The p99 the well-behaved client must stay under beside each abuse (issue 14). Default 50 ms. */
  p99LimitMs: number;
  /** dist/src/main.js of the meshlet build to run (`--meshlet-main`). Default: this tree's dist. */
  meshletMain: string | undefined;
}

export const ABUSE_USAGE = `Usage: npm run bench -- --suite abuse [options]
  Latency of a well-behaved client (h2load at a fixed rate) through one sidecar while an abusive client, in its own
  process, floods it with streams (flood) or holds as many streams open as it is allowed (hold); against the same
  client with nothing beside it (quiet). Prints p50/p99, p99 as a ratio to quiet, the sidecar's peak RSS and CPU,
  and PASS or FAIL for p99 under the limit beside each abuse.
  --quick               1 run, 3 s per mode
  --runs N              repetitions (default 3)
  --only a,b            modes: ${ABUSE_MODES.join(', ')}
  --rate N              calls/s of the well-behaved client (default 200)
  --clients N           its connections (default 2)
  --arrivals A          how its calls arrive: burst (one h2load, default) or spread (one h2load per connection,
                        started 1/rate apart)
  --seconds N           measurement per mode per run (default 8)
  --flood-streams N     requests per flood connection (default 100000)
  --hold-connections N  connections of the hold mode (default 50)
  --p99-limit-ms N      the p99 target (default 50)
  --meshlet-main PATH   dist/src/main.js of the build to measure`;

/** Parses the suite's flags; 'help' for --help. Throws with a message naming the bad flag. */
export function parseAbuseArgs(argv: readonly string[]): AbuseOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      help: { type: 'boolean' },
      quick: { type: 'boolean' },
      runs: { type: 'string' },
      only: { type: 'string' },
      rate: { type: 'string' },
      clients: { type: 'string' },
      arrivals: { type: 'string' },
      seconds: { type: 'string' },
      'flood-streams': { type: 'string' },
      'hold-connections': { type: 'string' },
      'p99-limit-ms': { type: 'string' },
      'meshlet-main': { type: 'string' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const quick = values.quick ?? false;
  let modes: readonly AbuseMode[] = ABUSE_MODES;
  if (values.only !== undefined) modes = pickList('only', values.only, ABUSE_MODES);
  return {
    suite: 'abuse',
    modes,
    runs: intFlag('runs', values.runs, quick ? 1 : 3, 1, 15),
    rate: intFlag('rate', values.rate, 200, 1, 100_000),
    clients: intFlag('clients', values.clients, 2, 1, 100),
    arrivals: arrivalsFlag(values.arrivals),
    seconds: intFlag('seconds', values.seconds, quick ? 3 : 8, 1, 3600),
    floodStreams: intFlag('flood-streams', values['flood-streams'], 100_000, 1, 1_000_000),
    holdConnections: intFlag('hold-connections', values['hold-connections'], 50, 1, 10_000),
    p99LimitMs: intFlag('p99-limit-ms', values['p99-limit-ms'], 50, 1, 60_000),
    meshletMain: values['meshlet-main'],
  };
}

