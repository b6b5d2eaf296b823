// SPDX-License-Identifier: Apache-2.0
// Command-line flags of `npm run bench -- --suite mtls` (bench/mtls.ts), with their defaults; bench/args.ts picks
// the suite.

import { parseArgs } from 'node:util';
import { ARRIVALS, type Arrivals } from './h2load.js';

/** The two-sidecar scenario's arrival patterns (bench/h2load.ts ARRIVALS). */
export { ARRIVALS, type Arrivals };

/**
 * TLS servers of the handshake scenario, in the order they take turns within a run:
 * - `meshlet`: `meshlet proxy --tls-cert --tls-key --tls-client-ca` (quick mode's TLS listener, client certs
 *   required);
 * - `nginx`: nginx `listen ... ssl http2` with `ssl_verify_client on`, the reference.
 */
export const HANDSHAKE_SERVERS = ['meshlet', 'nginx'] as const;
export type HandshakeServer = (typeof HANDSHAKE_SERVERS)[number];

/**
 * Paths of the two-sidecar scenario, in turn order:
 * - `direct`: h2load straight to the app (the latency baseline);
 * - `meshlet-x2`: h2load → meshlet A → meshlet B → app, plaintext h2c between the sidecars;
 * - `meshlet-x2-mtls`: the same with mTLS between them (A `--upstream-tls ...`, B `--tls-cert ... --tls-client-ca`);
 * - `nginx-x2-mtls`: nginx A `grpc_pass grpcs://B` with a client cert → nginx B `ssl_verify_client on` → app.
 */
export const CHAIN_PATHS = ['direct', 'meshlet-x2', 'meshlet-x2-mtls', 'nginx-x2-mtls'] as const;
export type ChainPath = (typeof CHAIN_PATHS)[number];

/** `handshake`: mTLS handshakes per second and per server CPU-second; `chain`: two sidecars at a fixed rate. */
export const MTLS_SCENARIOS = ['handshake', 'chain'] as const;
export type MtlsScenario = (typeof MTLS_SCENARIOS)[number];


/** Everything one `--suite mtls` invocation does. Durations are whole seconds. */
export interface MtlsOptions {
  suite: 'mtls';
  /** Scenarios to run. Default both. */
  scenarios: readonly MtlsScenario[];
  /** Handshake servers (`--only`). Default both. */
  servers: readonly HandshakeServer[];
  /** Two-sidecar paths (`--only`). Default all four. */
  paths: readonly ChainPath[];
  /** Repetitions; reported numbers are medians with every run's value. Default 3 (`--quick`: 1). Range 1-15. */
  runs: number;
  /** Handshake measurement length per server per run. Default 8 s (`--quick`: 3 s). */
  handshakeSeconds: number;
  /** Handshakes in flight per load-generator process. Default 8. Range 1-256. */
  handshakeConcurrency: number;
  /** Load-generator processes for handshakes (each ≤ one core). Default 1. Range 1-8. */
  handshakeProcs: number;
  /** Offered calls/s in the two-sidecar scenario, across all h2load connections. Default 1000. */
  rate: number;
  /** h2load connections (`-c`) in the two-sidecar scenario. Default 10 (100 calls/s each). */
  clients: number;
  /** h2load max concurrent streams per connection (`-m`). Default 10. */
  streams: number;
  /** Arrival patterns of the two-sidecar scenario (`--arrivals`), each measured in every run. Default both. */
  arrivals: readonly Arrivals[];
  /** Two-sidecar measurement length per path per run. Default 10 s (`--quick`: 3 s). */
  chainSeconds: number;
  /** Unmeasured handshake warm-up per server before the first run. Default 2 s (`--quick`: 1 s). */
  warmupSeconds: number;
  /**
   * Unmeasured warm-up per two-sidecar path at the fixed rate before the first run. Default 20 s (`--quick`: 1 s):
   * at 1,000 calls/s V8 is still compiling the call path after 10 s (docs/performance.md, "One sidecar at a low
   * fixed rate"), and a sidecar serves for hours.
   */
  chainWarmupSeconds: number;
  /** Protobuf payload of the unary request in bytes. Default 16, as in the default suite. */
  payloadBytes: number;
  /** dist/src/main.js of the meshlet build to run (`--meshlet-main`). Default: this tree's dist. */
  meshletMain: string | undefined;
  /** node flags for every meshlet sidecar after MESHLET_NODE_FLAGS (`--meshlet-node-arg`, repeatable). */
  meshletNodeArgs: readonly string[];
  /** Write all samples and medians as JSON here. Default: none. */
  json: string | undefined;
  /** Keep the temp work dir (certs, configs, logs). Default false (kept anyway on error). */
  keep: boolean;
}

export const MTLS_USAGE = `Usage: npm run bench -- --suite mtls [options]
  ECDSA P-256 certs (root CA, server and client leaves with SPIFFE URI SANs) are made with openssl in the work dir.
  --quick                 1 run, short durations
  --scenarios LIST        comma-separated: ${MTLS_SCENARIOS.join(',')} (default both)
  --only LIST             handshake servers ${HANDSHAKE_SERVERS.join(',')} and/or
                          two-sidecar paths ${CHAIN_PATHS.join(',')} (default all)
  --runs N                repetitions, medians with every run's value reported (default 3)
  --handshake-seconds N   handshake load per server per run (default 8)
  --concurrency N         handshakes in flight per load-generator process (default 8)
  --handshake-procs N     load-generator processes (default 1)
  --rate N                two-sidecar offered calls/s in total (default 1000)
  --clients N             h2load -c (default 10)
  --streams N             h2load -m (default 10)
  --arrivals LIST         two-sidecar arrival patterns: ${ARRIVALS.join(',')} (default both): burst = one h2load whose
                          connections fire together (10 calls every 10 ms at the defaults); spread = one h2load per
                          connection, started 1/rate apart, each on its own phase
  --chain-seconds N       two-sidecar load per path per run, per arrival pattern (default 10)
  --chain-warmup N        unmeasured two-sidecar load per path before the first run (default 20)
  --meshlet-main FILE     the meshlet build to run (default: this tree's dist/src/main.js)
  --meshlet-node-arg=ARG  node flag for every meshlet sidecar (repeatable), after the shipped ones (src/node-flags.ts),
                          e.g. --meshlet-node-arg=--max-semi-space-size=16 (V8's default young generation)
  --json FILE             write samples and medians as JSON
  --keep                  keep the temp work dir
  --help`;

function positiveInt(name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name} must be an integer from 1 to ${max}`);
  return n;
}

function names(flag: string, value: string): string[] {
  const wanted = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (wanted.length === 0) throw new Error(`--${flag}: nothing given`);
  return wanted;
}

/** Parses the mTLS suite's argv (without `--suite mtls`). Returns 'help' for --help; throws on bad flags. */
export function parseMtlsArgs(argv: readonly string[]): MtlsOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: 'boolean' },
      scenarios: { type: 'string' },
      only: { type: 'string' },
      runs: { type: 'string' },
      'handshake-seconds': { type: 'string' },
      concurrency: { type: 'string' },
      'handshake-procs': { type: 'string' },
      rate: { type: 'string' },
      clients: { type: 'string' },
      streams: { type: 'string' },
      arrivals: { type: 'string' },
      'chain-seconds': { type: 'string' },
      'chain-warmup': { type: 'string' },
      'meshlet-main': { type: 'string' },
      'meshlet-node-arg': { type: 'string', multiple: true },
      json: { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const quick = values.quick === true;
  let scenarios: MtlsScenario[] = [...MTLS_SCENARIOS];
  if (values.scenarios !== undefined) {
    const wanted = names('scenarios', values.scenarios);
    for (const w of wanted) {
      if (!(MTLS_SCENARIOS as readonly string[]).includes(w)) throw new Error(`--scenarios: unknown name '${w}' (${MTLS_SCENARIOS.join(', ')})`);
    }
    scenarios = MTLS_SCENARIOS.filter((s) => wanted.includes(s));
  }
  let servers: HandshakeServer[] = [...HANDSHAKE_SERVERS];
  let paths: ChainPath[] = [...CHAIN_PATHS];
  if (values.only !== undefined) {
    // One list for both scenarios: the names do not overlap, and a scenario left with nothing is not run.
    const wanted = names('only', values.only);
    const known = [...HANDSHAKE_SERVERS, ...CHAIN_PATHS] as readonly string[];
    for (const w of wanted) if (!known.includes(w)) throw new Error(`--only: unknown name '${w}' (${known.join(', ')})`);
    servers = HANDSHAKE_SERVERS.filter((s) => wanted.includes(s));
    paths = CHAIN_PATHS.filter((p) => wanted.includes(p));
    scenarios = scenarios.filter((s) => (s === 'handshake' ? servers.length > 0 : paths.length > 0));
    if (scenarios.length === 0) throw new Error('--only left no scenario to run');
  }
  let arrivals: Arrivals[] = [...ARRIVALS];
  if (values.arrivals !== undefined) {
    const wanted = names('arrivals', values.arrivals);
    for (const w of wanted) if (!(ARRIVALS as readonly string[]).includes(w)) throw new Error(`--arrivals: unknown name '${w}' (${ARRIVALS.join(', ')})`);
    arrivals = ARRIVALS.filter((a) => wanted.includes(a));
  }
  const clients = positiveInt('clients', values.clients, 10, 1000);
  const rate = positiveInt('rate', values.rate, 1000, 1_000_000);
  if (rate < clients) throw new Error('--rate must be at least --clients (h2load --rps is per connection)');
  return {
    suite: 'mtls',
    scenarios,
    servers,
    paths,
    runs: positiveInt('runs', values.runs, quick ? 1 : 3, 15),
    handshakeSeconds: positiveInt('handshake-seconds', values['handshake-seconds'], quick ? 3 : 8, 600),
    handshakeConcurrency: positiveInt('concurrency', values.concurrency, 8, 256),
    handshakeProcs: positiveInt('handshake-procs', values['handshake-procs'], 1, 8),
    rate,
    clients,
    streams: positiveInt('streams', values.streams, 10, 1000),
    arrivals,
    chainSeconds: positiveInt('chain-seconds', values['chain-seconds'], quick ? 3 : 10, 600),
    warmupSeconds: quick ? 1 : 2,
    chainWarmupSeconds: positiveInt('chain-warmup', values['chain-warmup'], quick ? 1 : 20, 600),
    payloadBytes: 16,
    meshletMain: values['meshlet-main'],
    meshletNodeArgs: values['meshlet-node-arg'] ?? [],
    json: values.json,
    keep: values.keep === true,
  };
}
