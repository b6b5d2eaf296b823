// SPDX-License-Identifier: Apache-2.0
// Command-line flags of `npm run bench` (bench/run.ts), with their defaults.

import { parseArgs } from 'node:util';

/** The three ways to reach the same upstream. */
export const PATH_NAMES = ['direct', 'meshlet', 'nginx'] as const;
export type PathName = (typeof PATH_NAMES)[number];

/** Which upstream app implementation bench/upstream.ts runs. */
export type AppKind = 'node-http2' | 'grpc-js';

/** Everything one bench invocation does. Durations are whole seconds (h2load's `-D` unit). */
export interface BenchOptions {
  /** Paths to measure, in this order within each run. Default all three. */
  paths: readonly PathName[];
  /** Repetitions; every reported number is the median over runs. Default 3 (`--quick`: 1). Range 1-9. */
  runs: number;
  /** h2load connections (`-c`). Default 10. */
  clients: number;
  /** h2load max concurrent streams per connection (`-m`). Default 10. */
  streams: number;
  /** Total offered load in fixed-rate mode, req/s across all connections. Default 4000. */
  rate: number;
  /** Fixed-rate (CPU per call) measurement length. Default 8 s (`--quick`: 3 s). */
  rateSeconds: number;
  /** Unlimited (peak req/s) measurement length. Default 6 s (`--quick`: 3 s). */
  peakSeconds: number;
  /** Unmeasured warm-up per path before the first run (JIT, connection pools). Default 2 s (`--quick`: 1 s). */
  warmupSeconds: number;
  /** Protobuf payload of the unary request in bytes. Default 16. */
  payloadBytes: number;
  /** Also run the large-message scenario (peak mode, informational). Default true. */
  large: boolean;
  /** Payload of the large-message scenario in bytes. Default 65536. */
  largeBytes: number;
  /** Large-message measurement length. Default 4 s (`--quick`: 2 s). */
  largeSeconds: number;
  /** Extra arguments appended to `meshlet proxy ...` (repeatable `--meshlet-arg`). Default none. */
  meshletArgs: readonly string[];
  /** Run meshlet under `node --cpu-prof`. Default false. */
  profile: boolean;
  app: AppKind;
  /** Write all samples and medians as JSON here. Default: none. */
  json: string | undefined;
  /** Keep the temp work dir (configs, logs, h2load logs). Default false (kept anyway on error). */
  keep: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]
  --quick              1 run, short durations (~30 s)
  --only LIST          comma-separated paths: direct,meshlet,nginx (default all)
  --profile            run meshlet under node --cpu-prof and print where the profile is
  --runs N             repetitions, medians reported (default 3)
  --rate N             total req/s in fixed-rate mode (default 4000)
  --clients N          h2load -c (default 10)
  --streams N          h2load -m (default 10)
  --app KIND           upstream app: node-http2 (default) or grpc-js
  --meshlet-arg ARG    extra argument for 'meshlet proxy' (repeatable), e.g. --meshlet-arg=--log-level=warn
  --no-large           skip the large-message scenario
  --json FILE          write samples and medians as JSON
  --keep               keep the temp work dir
  --help`;

function positiveInt(name: string, value: string | undefined, fallback: number, max = 1_000_000): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name} must be an integer from 1 to ${max}`);
  return n;
}

/** Parses argv (without node and script). Returns 'help' for --help; throws with a message on bad flags. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: 'boolean' },
      only: { type: 'string' },
      profile: { type: 'boolean' },
      runs: { type: 'string' },
      rate: { type: 'string' },
      clients: { type: 'string' },
      streams: { type: 'string' },
      app: { type: 'string' },
      'meshlet-arg': { type: 'string', multiple: true },
      'no-large': { type: 'boolean' },
      json: { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const quick = values.quick === true;
  let paths: PathName[] = [...PATH_NAMES];
  if (values.only !== undefined) {
    const wanted = values.only.split(',').map((s) => s.trim()).filter(Boolean);
    for (const p of wanted) {
      if (!(PATH_NAMES as readonly string[]).includes(p)) throw new Error(`--only: unknown path '${p}' (${PATH_NAMES.join(', ')})`);
    }
    paths = PATH_NAMES.filter((p) => wanted.includes(p));
    if (paths.length === 0) throw new Error('--only: no paths given');
  }
  const app = values.app ?? 'node-http2';
  if (app !== 'node-http2' && app !== 'grpc-js') throw new Error(`--app must be node-http2 or grpc-js, not '${app}'`);
  const clients = positiveInt('clients', values.clients, 10, 1000);
  const rate = positiveInt('rate', values.rate, 4000);
  if (rate < clients) throw new Error('--rate must be at least --clients (h2load --rps is per connection)');
  return {
    paths,
    runs: positiveInt('runs', values.runs, quick ? 1 : 3, 9),
    clients,
    streams: positiveInt('streams', values.streams, 10, 1000),
    rate,
    rateSeconds: quick ? 3 : 8,
    peakSeconds: quick ? 3 : 6,
    warmupSeconds: quick ? 1 : 2,
    payloadBytes: 16,
    large: values['no-large'] !== true,
    largeBytes: 65_536,
    largeSeconds: quick ? 2 : 4,
    meshletArgs: values['meshlet-arg'] ?? [],
    profile: values.profile === true,
    app,
    json: values.json,
    keep: values.keep === true,
  };
}
