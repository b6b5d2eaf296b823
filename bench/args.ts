// SPDX-License-Identifier: Apache-2.0
// Command-line flags of `npm run bench` (bench/run.ts), with their defaults, and which suite a command line runs.

import { parseArgs } from 'node:util';

/**
 * Every way the bench can reach the same upstream, in the order they take turns within a run:
 * - `direct`: h2load straight to the app;
 * - `node-floor`: bench/node-floor.ts, the smallest correct node:http2 gRPC relay (the floor any node:http2 data
 *   plane pays);
 * - `h2-floor`: bench/h2-floor.ts, the same relay on meshlet's own HTTP/2 engine (src/h2/), the floor of a
 *   data plane on that engine;
 * - `meshlet`: `meshlet proxy --no-access-log`, like nginx's `access_log off`;
 * - `meshlet+log`: the same with the access log on, written to a file (informational, `--log`);
 * - `meshlet-b`: a second meshlet, another build and/or other node flags, for A/B in one run (`--meshlet-b*`);
 * - `nginx`: nginx `grpc_pass`, the reference.
 */
export const PATH_NAMES = ['direct', 'node-floor', 'h2-floor', 'meshlet', 'meshlet+log', 'meshlet-b', 'nginx'] as const;
export type PathName = (typeof PATH_NAMES)[number];

/** Paths measured when `--only` is not given (meshlet+log with `--log`, meshlet-b with `--meshlet-b*`). */
export const DEFAULT_PATHS: readonly PathName[] = ['direct', 'node-floor', 'h2-floor', 'meshlet', 'nginx'];

/**
 * unary-low: a fixed low load (memory at a typical rate, `--low-rate`); unary-rate: fixed offered load (CPU per
 * call, p99) from one h2load, whose connections fire together (`--clients` calls at once); unary-spread: the same
 * offered load from one h2load per connection, started 1/rate apart, so the calls are spread out
 * (bench/h2load.ts runSpreadH2load); unary-peak: unlimited (req/s); large-peak: 64 KiB messages, unlimited. In
 * this order within a run.
 */
export const SCENARIO_NAMES = ['unary-low', 'unary-rate', 'unary-spread', 'unary-peak', 'large-peak'] as const;
export type Scenario = (typeof SCENARIO_NAMES)[number];

/** Which upstream app implementation bench/upstream.ts runs. */
export type AppKind = 'node-http2' | 'grpc-js';

/** Everything one bench invocation does. Durations are whole seconds (h2load's `-D` unit). */
export interface BenchOptions {
  /** Paths to measure, in PATH_NAMES order within each run. Default DEFAULT_PATHS. */
  paths: readonly PathName[];
  /** Scenarios to measure. Default all five (`--no-large`: without large-peak). */
  scenarios: readonly Scenario[];
  /** Repetitions; every reported number is the median over runs. Default 3 (`--quick`: 1). Range 1-15. */
  runs: number;
  /** h2load connections (`-c`). Default 10. */
  clients: number;
  /** h2load max concurrent streams per connection (`-m`). Default 10. */
  streams: number;
  /** Total offered load in fixed-rate mode, req/s across all connections. Default 4000. */
  rate: number;
  /** Total offered load of unary-low, req/s across all connections. Default 1000. */
  lowRate: number;
  /**
   * One process per path through every scenario and run, so each figure carries what ran before it (the bench
   * before issue #14; `--shared-process`). Default false: every measurement starts fresh proxies (nginx included),
   * warms them with the scenario's own load, and stops them afterwards.
   */
  shareProcess: boolean;
  /**
   * Read each node proxy's heap before and after a full GC through the inspector (bench/heap-probe.ts), after the
   * measurement's CPU is read: every fresh process, or a shared process once, after its last measurement (the
   * probe's full GC would reset what the process carries). Default true (`--no-heap`).
   */
  heapProbe: boolean;
  /** Fixed-rate (unary-rate, unary-low) measurement length. Default 8 s (`--quick`: 3 s). */
  rateSeconds: number;
  /** Unlimited (peak req/s) measurement length. Default 6 s (`--quick`: 3 s). */
  peakSeconds: number;
  /**
   * Unmeasured warm-up (JIT, connection pools). Fresh processes: per measurement, with that scenario's load;
   * `--shared-process`: per path before the first run, unlimited. Default 2 s (`--quick`: 1 s).
   */
  warmupSeconds: number;
  /**
   * How long each path's first process stays idle before its RSS is read a second time ("settled"): V8's memory
   * reducer shrinks a node process's young generation about 8 s after start-up. Default 12 s (`--quick`: 0, not read).
   */
  idleSettleSeconds: number;
  /** Protobuf payload of the unary request in bytes. Default 16. */
  payloadBytes: number;
  /** Payload of the large-message scenario in bytes. Default 65536. */
  largeBytes: number;
  /** Large-message measurement length. Default 4 s (`--quick`: 2 s). */
  largeSeconds: number;
  /** Extra arguments appended to `meshlet proxy ...` for meshlet and meshlet+log (`--meshlet-arg`). Default none. */
  meshletArgs: readonly string[];
  /** dist/src/main.js of the build that meshlet and meshlet+log run (`--meshlet-main`). Default: this tree's dist. */
  meshletMain: string | undefined;
  /** dist/src/main.js of the build that meshlet-b runs (`--meshlet-b`). Default: the same build as meshlet. */
  meshletBMain: string | undefined;
  /** meshlet-b runs with its access log on, to compare with meshlet+log (`--meshlet-b-log`). Default false. */
  meshletBLog: boolean;
  /** node flags for meshlet-b (`--meshlet-b-node-arg`), e.g. `--single-threaded-gc`. Default none. */
  meshletBNodeArgs: readonly string[];
  /** Extra arguments for node-floor (`--floor-arg`), e.g. `--max-frame-size=65536`. Default none. */
  floorArgs: readonly string[];
  /** Run the node processes (meshlet*, node-floor, h2-floor) under `node --cpu-prof`. Default false. */
  profile: boolean;
  app: AppKind;
  /**
   * The node-http2 app's connection receive window in bytes (`--app-window`; session.setLocalWindowSize), or
   * undefined for node's default of 65,535, which every path shares the way it connects (meshlet and h2-floor
   * multiplex all calls over one connection; nginx opens one per concurrent call).
   */
  appWindowBytes: number | undefined;
  /**
   * The SETTINGS_MAX_CONCURRENT_STREAMS the node-http2 app advertises (`--app-max-streams`), or undefined for 1000.
   * Below the calls in flight, meshlet and h2-floor spread them over more connections to the app (src/h2/session-pool.ts,
   * up to 8 per endpoint), each with its own connection window.
   */
  appMaxStreams: number | undefined;
  /** Write all samples and medians as JSON here. Default: none. */
  json: string | undefined;
  /** Keep the temp work dir (configs, logs, h2load logs). Default false (kept anyway on error). */
  keep: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]
  --suite mtls         run the mTLS suite instead (handshakes/s, two sidecars with mTLS); see --suite mtls --help
  --suite ratelimit    run the rate-limit suite instead (CPU and p99 a local / global limit adds); see --suite ratelimit --help
  --suite grpc-web     meshlet CPU per gRPC-Web call (HTTP/1.1, HTTP/2) vs native gRPC; see --suite grpc-web --help
  --suite abuse        a well-behaved client's p99 beside a stream flood / held streams; see --suite abuse --help
  --quick              1 run, short durations (~2 min)
  --only LIST          comma-separated paths: ${PATH_NAMES.join(',')}
                       (default ${DEFAULT_PATHS.join(',')})
  --log                also measure meshlet+log: meshlet with its access log on, written to a file
  --meshlet-main FILE  the build meshlet and meshlet+log run (default: this tree's dist/src/main.js)
  --meshlet-b FILE     also measure meshlet-b, running FILE (another build's dist/src/main.js), for A/B in one run
  --meshlet-b-node-arg=ARG  node flag for meshlet-b (repeatable; also adds meshlet-b), after the flags every
                       meshlet path starts with (src/node-flags.ts), so it can override them,
                       e.g. --meshlet-b-node-arg=--max-semi-space-size=16 (V8's default young generation)
  --meshlet-b-log      meshlet-b runs with its access log on (compare it with meshlet+log)
  --floor-arg=ARG      extra argument for node-floor (repeatable), e.g. --floor-arg=--max-frame-size=65536
  --scenarios LIST     comma-separated: ${SCENARIO_NAMES.join(',')} (default all)
  --no-large           skip the large-message scenario
  --shared-process     one process per path through every scenario and run (default: fresh proxies for each
                       measurement, so no figure depends on what ran before it)
  --no-heap            do not read the node proxies' heap after GC through the inspector
  --profile            run the node processes under node --cpu-prof and print where the profiles are
  --runs N             repetitions, medians reported (default 3)
  --rate N             total req/s in fixed-rate mode (default 4000)
  --low-rate N         total req/s of unary-low, the memory scenario (default 1000)
  --clients N          h2load -c (default 10)
  --streams N          h2load -m (default 10)
  --app KIND           upstream app: node-http2 (default) or grpc-js
  --app-window BYTES   the node-http2 app's connection receive window (default node's 65535), e.g. 16777216
  --app-max-streams N  the node-http2 app's SETTINGS_MAX_CONCURRENT_STREAMS (default 1000), e.g. 25
  --meshlet-arg=ARG    extra argument for 'meshlet proxy' (repeatable), e.g. --meshlet-arg=--log-level=warn
  --json FILE          write samples and medians as JSON
  --keep               keep the temp work dir
  --help`;

/**
 * Suites: `proxy` (the default: direct, floors, meshlet and nginx as one hop, this file's flags) and `mtls`
 * (bench/mtls.ts, flags in bench/mtls-args.ts).
 */
export const SUITE_NAMES = ['proxy', 'mtls', 'ratelimit', 'grpc-web', 'abuse'] as const;
export type SuiteName = (typeof SUITE_NAMES)[number];

/**
 * Takes `--suite NAME` or `--suite=NAME` out of argv and returns the suite and the remaining flags, which that
 * suite's parser reads. Without the flag the suite is `proxy`, so `npm run bench` behaves as before. Throws on an
 * unknown or missing name.
 */
/** `--name`'s integer value within [min, max], `def` when absent; throws naming the flag. Shared by the suites' parsers. */
export function intFlag(name: string, v: string | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: expected an integer ${min}-${max}, got '${v}'`);
  return n;
}

export function splitSuite(argv: readonly string[]): { suite: SuiteName; rest: string[] } {
  const rest: string[] = [];
  let suite: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--suite') {
      suite = argv[++i];
      if (suite === undefined) throw new Error('--suite needs a name');
    } else if (arg.startsWith('--suite=')) {
      suite = arg.slice('--suite='.length);
    } else {
      rest.push(arg);
    }
  }
  if (suite !== undefined && !(SUITE_NAMES as readonly string[]).includes(suite)) {
    throw new Error(`--suite: unknown name '${suite}' (${SUITE_NAMES.join(', ')})`);
  }
  return { suite: (suite ?? 'proxy') as SuiteName, rest };
}

/** A flag's positive integer value (at most `max`), `fallback` when absent; throws naming the flag. */
export function positiveInt(name: string, value: string | undefined, fallback: number, max = 1_000_000): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name} must be an integer from 1 to ${max}`);
  return n;
}

/** Splits a comma-separated flag value and checks every entry against `allowed`; keeps `allowed`'s order. */
export function pickList<T extends string>(flag: string, value: string, allowed: readonly T[]): T[] {
  const wanted = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const w of wanted) {
    if (!(allowed as readonly string[]).includes(w)) throw new Error(`--${flag}: unknown name '${w}' (${allowed.join(', ')})`);
  }
  const picked = allowed.filter((a) => wanted.includes(a));
  if (picked.length === 0) throw new Error(`--${flag}: nothing given`);
  return picked;
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
      log: { type: 'boolean' },
      'meshlet-main': { type: 'string' },
      'meshlet-b': { type: 'string' },
      'meshlet-b-node-arg': { type: 'string', multiple: true },
      'meshlet-b-log': { type: 'boolean' },
      'floor-arg': { type: 'string', multiple: true },
      scenarios: { type: 'string' },
      profile: { type: 'boolean' },
      runs: { type: 'string' },
      rate: { type: 'string' },
      'low-rate': { type: 'string' },
      'shared-process': { type: 'boolean' },
      'no-heap': { type: 'boolean' },
      clients: { type: 'string' },
      streams: { type: 'string' },
      app: { type: 'string' },
      'app-window': { type: 'string' },
      'app-max-streams': { type: 'string' },
      'meshlet-arg': { type: 'string', multiple: true },
      'no-large': { type: 'boolean' },
      json: { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const quick = values.quick === true;
  const meshletBNodeArgs = values['meshlet-b-node-arg'] ?? [];
  const wantB = values['meshlet-b'] !== undefined || meshletBNodeArgs.length > 0;
  let paths: PathName[];
  if (values.only !== undefined) {
    paths = pickList('only', values.only, PATH_NAMES);
    if (paths.includes('meshlet-b') && !wantB) {
      throw new Error('--only meshlet-b needs --meshlet-b FILE or --meshlet-b-node-arg ARG (what makes it a B)');
    }
  } else {
    const extra = new Set<PathName>([...(values.log ? (['meshlet+log'] as const) : []), ...(wantB ? (['meshlet-b'] as const) : [])]);
    paths = PATH_NAMES.filter((p) => DEFAULT_PATHS.includes(p) || extra.has(p));
  }
  let scenarios: Scenario[] = values.scenarios !== undefined ? pickList('scenarios', values.scenarios, SCENARIO_NAMES) : [...SCENARIO_NAMES];
  if (values['no-large'] === true) scenarios = scenarios.filter((s) => s !== 'large-peak');
  if (scenarios.length === 0) throw new Error('--no-large left no scenario to run');
  const app = values.app ?? 'node-http2';
  if (app !== 'node-http2' && app !== 'grpc-js') throw new Error(`--app must be node-http2 or grpc-js, not '${app}'`);
  const appWindowBytes = values['app-window'] === undefined ? undefined : positiveInt('app-window', values['app-window'], 65_535, 2 ** 31 - 1);
  if (appWindowBytes !== undefined && app !== 'node-http2') throw new Error('--app-window applies to the node-http2 app only');
  const appMaxStreams = values['app-max-streams'] === undefined ? undefined : positiveInt('app-max-streams', values['app-max-streams'], 1000, 2 ** 31 - 1);
  if (appMaxStreams !== undefined && app !== 'node-http2') throw new Error('--app-max-streams applies to the node-http2 app only');
  const clients = positiveInt('clients', values.clients, 10, 1000);
  const rate = positiveInt('rate', values.rate, 4000);
  if (rate < clients) throw new Error('--rate must be at least --clients (h2load --rps is per connection)');
  const lowRate = positiveInt('low-rate', values['low-rate'], 1000);
  if (lowRate < clients) throw new Error('--low-rate must be at least --clients (h2load --rps is per connection)');
  return {
    paths,
    scenarios,
    runs: positiveInt('runs', values.runs, quick ? 1 : 3, 15),
    clients,
    streams: positiveInt('streams', values.streams, 10, 1000),
    rate,
    lowRate,
    shareProcess: values['shared-process'] === true,
    heapProbe: values['no-heap'] !== true,
    rateSeconds: quick ? 3 : 8,
    peakSeconds: quick ? 3 : 6,
    warmupSeconds: quick ? 1 : 2,
    idleSettleSeconds: quick ? 0 : 12,
    payloadBytes: 16,
    largeBytes: 65_536,
    largeSeconds: quick ? 2 : 4,
    meshletArgs: values['meshlet-arg'] ?? [],
    meshletMain: values['meshlet-main'],
    meshletBMain: values['meshlet-b'],
    meshletBNodeArgs,
    meshletBLog: values['meshlet-b-log'] === true,
    floorArgs: values['floor-arg'] ?? [],
    profile: values.profile === true,
    app,
    appWindowBytes,
    appMaxStreams,
    json: values.json,
    keep: values.keep === true,
  };
}
