// SPDX-License-Identifier: Apache-2.0
// The bootstrap config schema (sidecar.yaml): listeners, the local service, upstream backends and how they are
// discovered, connection pool, admin, logs, shutdown. Static: changing it needs a restart. This schema IS the
// config reference: every field documents its default, unit and range, and `meshlet schema` exports it as JSON
// Schema for editors.

import { z } from 'zod';
import { mtlsSchema, SPIFFE_ID_PATTERN } from './mtls-schema.js';
import { redisSchema } from './redis-schema.js';

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-_]+):(\d{1,5})$/;

// `abort` on the format check: a string that is not host:port at all gets one issue, not three (the port-range
// refinement would otherwise run on it too and report a meaningless range error).
const hostPort = (minPort: number) =>
  z
    .string()
    .regex(HOST_PORT, { message: 'expected host:port, e.g. 127.0.0.1:6140', abort: true })
    .refine((s) => {
      const port = Number(s.slice(s.lastIndexOf(':') + 1));
      return port >= minPort && port <= 65535;
    }, `port must be ${minPort}-65535`);

/** `host:port`; port 0 asks the OS for a free port (tests). Range 0-65535. */
export const listenAddress = hostPort(0);

/** `host:port` of a remote endpoint; port 1-65535. */
export const endpointAddress = hostPort(1);

/** True for `http(s)://host[:port]` with nothing after the authority but an optional `/`. */
function isAgentUrl(s: string): boolean {
  if (!URL.canParse(s)) return false;
  const u = new URL(s);
  return (
    (u.protocol === 'http:' || u.protocol === 'https:') &&
    u.hostname !== '' &&
    u.pathname === '/' &&
    u.search === '' &&
    u.hash === ''
  );
}

const ms = (def: number, min: number, max: number, what: string) =>
  z
    .number()
    .int()
    .min(min)
    .max(max)
    .default(def)
    .describe(`${what} Milliseconds; default ${def}; range ${min}-${max}.`);

// gRPC-Web on the inbound listener (docs/grpc-web.md): browsers call the app through meshlet directly.
const ORIGIN = /^(?:\*|https?:\/\/(?:\*\.)?[A-Za-z0-9.\-]+(?::\d{1,5})?)$/;
const grpcWebSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Accept gRPC-Web calls on the inbound listener; default true when the section is present.'),
    maxRequestBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 << 20)
      .default(4 << 20)
      .describe(
        'Largest gRPC-Web request body meshlet buffers (after base64 decoding for -text), bytes; default 4194304 (4 MiB); ' +
          'range 1024-67108864. A larger body is refused with RESOURCE_EXHAUSTED (ERR_GRPCWEB_TOO_LARGE).',
      ),
    cors: z
      .object({
        allowedOrigins: z
          .array(z.string().regex(ORIGIN, { message: 'expected an origin like https://app.example.com, https://*.example.com or *' }))
          .default([])
          .describe(
            'Origins whose pages may call: exact (`https://app.example.com`), a wildcard subdomain (`https://*.example.com`, ' +
              'not the apex) or `*`. Default none: only same-origin and non-browser clients. Another origin gets no CORS headers.',
          ),
        allowedHeaders: z
          .array(z.string().min(1))
          .default([])
          .describe('Request headers (custom metadata) pages may send, besides the gRPC-Web ones meshlet always allows. Default none.'),
        exposedHeaders: z
          .array(z.string().min(1))
          .default([])
          .describe(
            'Response headers (custom metadata) pages may read, besides grpc-status, grpc-message, grpc-status-details-bin ' +
              'and x-meshlet-error. Default none.',
          ),
        maxAgeSeconds: z
          .number()
          .int()
          .min(0)
          .max(86_400)
          .default(600)
          .describe('How long browsers may cache a preflight answer, seconds; default 600; range 0-86400.'),
      })
      .strict()
      .default({ allowedOrigins: [], allowedHeaders: [], exposedHeaders: [], maxAgeSeconds: 600 })
      .describe('CORS for pages served from another origin; meshlet answers preflight OPTIONS itself.'),
  })
  .strict()
  .describe(
    'gRPC-Web (application/grpc-web[-text][+proto], over HTTP/1.1 and HTTP/2) on the inbound listener, translated to ' +
      'native gRPC for the app. Unary and server-streaming calls. Omit to serve native gRPC only.',
  );

const staticEndpoint = z.union([
  endpointAddress.describe('host:port of the endpoint (weight 1).'),
  z
    .object({
      address: endpointAddress.describe('host:port of the endpoint; port 1-65535.'),
      weight: z
        .number()
        .int()
        .min(1)
        .max(10_000)
        .default(1)
        .describe('Relative weight for round_robin and least_request; default 1; range 1-10000.'),
    })
    .strict()
    .describe('An endpoint with a weight.'),
]);

export const balancingSchema = z
  .object({
    policy: z
      .enum(['least_request', 'round_robin', 'ring_hash'])
      .default('least_request')
      .describe(
        'Per-request balancing: least_request (power of two choices over peak-EWMA latency x in-flight, like ' +
          'Linkerd; default), round_robin (weighted), ring_hash (consistent hashing on `hashHeader`).',
      ),
    hashHeader: z
      .string()
      .regex(/^[a-z0-9\-_.]+$/, 'expected a lower-case header name (a-z 0-9 - _ .)')
      .optional()
      .describe(
        'ring_hash only: the request header whose value is hashed (lower case: a-z 0-9 - _ .). Required for ring_hash.',
      ),
    ringSize: z
      .number()
      .int()
      .min(64)
      .max(65_536)
      .default(1024)
      .describe(
        'ring_hash only: minimum virtual nodes on the ring (Envoy minimum_ring_size); default 1024; range 64-65536.',
      ),
  })
  .strict()
  .refine((b) => b.policy !== 'ring_hash' || b.hashHeader !== undefined, {
    message: 'ring_hash needs hashHeader',
    path: ['hashHeader'],
  })
  .describe('How calls to this backend pick an endpoint.');

const upstreamSchema = z
  .object({
    endpoints: z
      .array(staticEndpoint)
      .optional()
      .describe('Static endpoints. When set, this backend is not looked up in Consul.'),
    balancing: balancingSchema.default({ policy: 'least_request', ringSize: 1024 }),
    identities: z
      .array(
        z
          .string()
          .regex(SPIFFE_ID_PATTERN, 'expected a SPIFFE ID pattern, e.g. spiffe://meshlet.local/svc/billing or spiffe://meshlet.local/ns/prod/sa/*'),
      )
      .min(1)
      .optional()
      .describe(
        'SPIFFE IDs (patterns: `*` matches one path segment, a final `/**` one or more) an endpoint of this backend ' +
          'must present when `mtls.outbound.mode` is mtls; any other ID fails the attempt with ERR_TLS_PEER_IDENTITY. ' +
          "Default: the endpoint's Consul service meta `spiffe-id` when it has one, else " +
          'spiffe://<mtls.trustDomain>/svc/<backend name>.',
      ),
  })
  .strict()
  .describe('One backend: where its endpoints come from, how they are balanced, and who they must be (mTLS).');

export const consulSchema = z
  .object({
    address: z
      .string()
      .refine(isAgentUrl, 'expected http(s)://host:port, e.g. http://127.0.0.1:8500')
      .default('http://127.0.0.1:8500')
      .describe(
        'The local Consul agent, http(s)://host[:port] with no path. Env CONSUL_HTTP_ADDR overrides (a bare host:port ' +
          'means http://host:port) and creates this section when it is absent; default http://127.0.0.1:8500.',
      ),
    token: z.string().optional().describe('ACL token (service:write for the local service, service:read + node:read for upstreams). Env CONSUL_HTTP_TOKEN overrides. Redacted in /config.'),
    datacenter: z.string().optional().describe('Datacenter to query; default the agent\'s own.'),
    namespace: z.string().optional().describe('Consul Enterprise namespace.'),
    caFile: z.string().optional().describe('PEM CA bundle to verify an https agent address. Env CONSUL_CACERT overrides.'),
    register: z.boolean().default(true).describe('Register the local service (with a gRPC health check) on start and deregister on shutdown; default true.'),
    waitMs: ms(30_000, 1000, 600_000, 'Blocking-query wait (`wait`).'),
    idleWatchTimeoutMs: ms(300_000, 1000, 86_400_000, 'Stop watching a backend no call has used for this long.'),
    requestTimeoutMs: ms(
      10_000,
      100,
      600_000,
      'Budget of a non-blocking Consul call; a blocking read gets waitMs + waitMs/16 on top. A read stuck in a hung ' +
        'agent fails after this, then is retried (watch.backoff*).',
    ),
    maxResponseBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024 * 1024)
      .default(64 * 1024 * 1024)
      .describe(
        'Largest health answer read; a bigger one is ignored and counted (reason too_large) instead of being ' +
          'buffered without bound. Bytes; default 67108864 (64 MiB; 10,000 instances answer about 16 MB); range 1024-1073741824.',
      ),
    watch: z
      .object({
        minIntervalMs: ms(
          100,
          0,
          60_000,
          'Least time between the starts of two reads of one backend (consul-template paces at 100 ms). A read that ' +
            'blocked longer is re-issued at once; a backend changing faster gets one read per interval, the changes ' +
            'in between coalesced into it. 0 = unpaced.',
        ),
        cpuShare: z
          .number()
          .min(0.001)
          .max(1)
          .default(0.035)
          .describe(
            'Share of one core the reads of one backend may use: after an answer that cost C ms of CPU (the HTTP ' +
              'read, parse and GC while the body arrived, then the diff and the picker update), the next read waits ' +
              'C × (1/cpuShare − 1) ms, at most maxCostWaitMs. Only large, busy backends feel it (a 10,000-instance ' +
              'answer costs ~60-90 ms: read every ~2 s under constant churn). C is the whole process\'s CPU time while the ' +
              'answer arrived, so a busy proxy reads large backends less often. The GC and timers outside the reads are not ' +
              'counted (about one more point for 10,000 instances); the default leaves room for them under 5 % of a core. ' +
              'Default 0.035; range 0.001-1 (1 = off).',
          ),
        maxCostWaitMs: ms(
          3000,
          0,
          600_000,
          'Cap of the wait cpuShare adds before a read, so changes stay visible within about this plus two reads ' +
            'when a read costs more than usual (the first reads of a large answer, which also compile the reader; ' +
            'answers of 30,000+ instances, where the cap wins over cpuShare).',
        ),
        backoffBaseMs: ms(100, 1, 60_000, 'Upper bound of the first full-jitter delay after a failed read.'),
        backoffMaxMs: ms(
          800,
          1,
          300_000,
          'Cap of the full-jitter delay after failed reads; also the longest a backend stays stale once the agent is ' +
            'back (the 1 s freshness target needs it under 1000). Must be >= backoffBaseMs.',
        ),
        logIntervalMs: ms(
          10_000,
          0,
          3_600_000,
          'A failing watch warns on its first failure, then at most once per this interval (with a count of the folded ones).',
        ),
      })
      .strict()
      .refine((w) => w.backoffMaxMs >= w.backoffBaseMs, {
        message: 'backoffMaxMs must be >= backoffBaseMs',
        path: ['backoffMaxMs'],
      })
      .default({ minIntervalMs: 100, cpuShare: 0.035, maxCostWaitMs: 3000, backoffBaseMs: 100, backoffMaxMs: 800, logIntervalMs: 10_000 })
      .describe('Pacing, error backoff and logging of the blocking-query loop of each watched backend.'),
    check: z
      .object({
        intervalMs: ms(10_000, 1000, 3_600_000, 'Health check interval.'),
        timeoutMs: ms(2000, 100, 60_000, 'Health check timeout.'),
        deregisterCriticalAfterMs: ms(60_000, 60_000, 86_400_000, 'DeregisterCriticalServiceAfter (Consul minimum 1m).'),
      })
      .strict()
      .default({ intervalMs: 10_000, timeoutMs: 2000, deregisterCriticalAfterMs: 60_000 })
      .describe('The gRPC health check registered with the local service.'),
  })
  .strict();

// Observability sections: metrics, tracing, health.
const METHOD_KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]*\/(?:\*|[A-Za-z0-9_][A-Za-z0-9_.-]*)$/;

export const metricsSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe('Per-call metrics (the metrics and endpoint-metrics layers); default true. Off: no per-call cost.'),
    maxMethods: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(500)
      .describe(
        'Distinct service/method label pairs per direction; later ones count as grpc_service="other", ' +
          'grpc_method="other", so callers cannot grow /metrics without bound. Default 500; range 1-10000.',
      ),
    maxUpstreams: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(100)
      .describe('Distinct `upstream` label values per direction; later ones count as "other". Default 100; range 1-10000.'),
    methodTypes: z
      .record(
        z.string().regex(METHOD_KEY, 'expected package.Service/Method or package.Service/*'),
        z.enum(['unary', 'client_stream', 'server_stream', 'bidi_stream']),
      )
      .default({})
      .describe(
        'The grpc_type label of methods, keyed `package.Service/Method` or `package.Service/*`. meshlet never ' +
          'decodes protobuf, so without this (or protoFiles) grpc_type is "unknown". Default {}.',
      ),
    protoFiles: z
      .array(z.string().min(1))
      .default([])
      .describe('.proto files whose services give grpc_type for their methods (read once at start). Default [].'),
    countUnknownMessages: z
      .boolean()
      .default(false)
      .describe(
        'Count messages (meshlet_grpc_msg_*_total) of methods whose type is unknown by parsing their 5-byte ' +
          'prefixes as they pass; default false (it costs two stream listeners per call, measured ~10 % of a ' +
          "unary call's proxy CPU). Methods of known type are always counted.",
      ),
    process: z.boolean().default(true).describe('Process metrics (CPU, memory, event-loop lag, GC); default true.'),
    eventLoopResolutionMs: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(20)
      .describe(
        'With process metrics: how often the event-loop lag is sampled, ms (a native timer). A stall of D ms is ' +
          'recorded as at least D minus this. Default 20 (an idle sidecar measured 0.33-0.38 % of a core at 20, ' +
          "0.50-0.53 % at 10, prom-client's default, 0.15-0.20 % at 50); range 1-1000.",
      ),
  })
  .strict()
  .describe('Prometheus metrics, served at /metrics on the admin port.');

export const tracingSchema = z
  .object({
    mode: z.enum(['off', 'on']).default('off').describe('off (default: no tracing layer, no per-call cost) or on.'),
    sampleRatio: z
      .number()
      .min(0)
      .max(1)
      .default(0.01)
      .describe(
        'Probability of tracing a call that arrives without a sampling decision (a root). Parent-based: a ' +
          'sampled or unsampled parent is followed. Default 0.01; range 0-1.',
      ),
    endpoint: z
      .string()
      .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), 'expected an http(s) URL')
      .default('http://127.0.0.1:4318/v1/traces')
      .describe("OTLP/HTTP (JSON) traces URL; default http://127.0.0.1:4318/v1/traces, Jaeger's OTLP receiver."),
    propagation: z
      .array(z.enum(['tracecontext', 'b3', 'b3multi']))
      .min(1)
      .default(['tracecontext', 'b3', 'b3multi'])
      .describe(
        'Formats read from requests (W3C traceparent wins over b3, which wins over x-b3-*) and written ' +
          'upstream: each listed format that arrived, plus the first one always. Default all three.',
      ),
    serviceName: z.string().min(1).optional().describe('service.name of exported spans; default service.name.'),
    batchDelayMs: ms(5000, 100, 60_000, 'Export batch interval.'),
    exportTimeoutMs: ms(10_000, 100, 120_000, 'Timeout of one export request.'),
    maxQueueSize: z
      .number()
      .int()
      .min(64)
      .max(1_000_000)
      .default(2048)
      .describe('Spans waiting for export before new ones are dropped (and counted); default 2048; range 64-1000000.'),
  })
  .strict()
  .describe('OpenTelemetry tracing, exported over OTLP/HTTP (Jaeger ingests OTLP natively).');

const UPSTREAM_HEALTH_DEFAULTS = {
  enabled: false,
  service: '',
  intervalMs: 10_000,
  timeoutMs: 1000,
  unhealthyThreshold: 2,
  healthyThreshold: 1,
};

const threshold = (def: number, what: string) =>
  z.number().int().min(1).max(100).default(def).describe(`${what} Default ${def}; range 1-100.`);

export const healthSchema = z
  .object({
    appCheck: z
      .enum(['grpc', 'http', 'tcp', 'none'])
      .default('grpc')
      .describe(
        "How the app's health is checked: grpc (default: grpc.health.v1 Check on the app; an app without a " +
          'health service, UNIMPLEMENTED, counts as serving), http (an HTTP/1.1 GET of `appHttp.path`; 2xx is ' +
          'serving), tcp (a TCP connect), none (always serving).',
      ),
    appHttp: z
      .object({
        address: endpointAddress
          .optional()
          .describe("host:port of the app's HTTP health endpoint; default the app's own address (inbound.app)."),
        path: z
          .string()
          .regex(/^\/\S*$/, 'an absolute path such as /healthz')
          .default('/healthz')
          .describe('The path requested; default /healthz.'),
      })
      .strict()
      .default({ path: '/healthz' })
      .describe('appCheck http only: where the app answers health over HTTP/1.1.'),
    appService: z
      .string()
      .default('')
      .describe("The service name asked in the app's health Check; default '' (the app's overall health)."),
    intervalMs: ms(
      5000,
      100,
      600_000,
      "Time from the end of one probe of the app's health to the start of the next. The first probe runs when the " +
        'sidecar starts (the state is UNKNOWN until it ends), so /clusters and the metrics know the app unasked.',
    ),
    timeoutMs: ms(1000, 10, 60_000, "Timeout of one check of the app's health."),
    upstreams: z
      .object({
        enabled: z
          .boolean()
          .default(false)
          .describe('Active grpc.health.v1 checks of every upstream endpoint; failing ones leave the picker. Default false.'),
        service: z.string().default('').describe("The service name asked; default '' (a peer sidecar answers for its app)."),
        intervalMs: ms(10_000, 1000, 3_600_000, 'Time between check rounds.'),
        timeoutMs: ms(1000, 10, 60_000, 'Timeout of one check.'),
        unhealthyThreshold: threshold(2, 'Consecutive failed checks that take an endpoint out of the picker.'),
        healthyThreshold: threshold(1, 'Consecutive passed checks that bring it back.'),
      })
      .strict()
      .default(UPSTREAM_HEALTH_DEFAULTS)
      .describe('Active health checks of upstream endpoints.'),
  })
  .strict()
  .describe(
    'The grpc.health.v1 service the sidecar answers on its inbound port (Check, Watch): SERVING while the app is ' +
      'healthy and the sidecar ready. Consul and Kubernetes grpc probes point at it.',
  );

export const bootstrapSchema = z
  .object({
    service: z
      .object({
        name: z
          .string()
          .regex(/^[a-zA-Z0-9][a-zA-Z0-9\-_.]*$/, 'expected letters, digits, - _ . (starting with a letter or digit)')
          .describe(
            'The local service name (what other sidecars use as :authority; its Consul service name). Letters, ' +
              'digits, - _ . starting with a letter or digit. Required.',
          ),
        id: z.string().optional().describe('Instance ID for Consul; default `<name>-<address>-<inbound port>`.'),
        address: z.string().optional().describe('Address other sidecars reach this one at; default the first non-internal IPv4.'),
        tags: z.array(z.string()).default([]).describe('Consul tags.'),
        meta: z.record(z.string(), z.string()).default({}).describe('Consul service meta.'),
        weight: z
          .number()
          .int()
          .min(1)
          .max(10_000)
          .default(1)
          .describe('Consul Weights.Passing for this instance; default 1; range 1-10000.'),
      })
      .strict()
      .describe('The local service this sidecar fronts.'),
    inbound: z
      .object({
        listen: listenAddress
          .default('0.0.0.0:6143')
          .describe(
            'Where peers call this service, host:port; default 0.0.0.0:6143. Env MESHLET_INBOUND_LISTEN overrides.',
          ),
        app: endpointAddress.describe(
          "The local application's gRPC (h2c) address, host:port, e.g. 127.0.0.1:50051. Required.",
        ),
        grpcWeb: grpcWebSchema.optional(),
      })
      .strict()
      .optional()
      .describe('Inbound listener (peers → local app). Omit for a client-only workload.'),
    outbound: z
      .object({
        listen: listenAddress
          .default('127.0.0.1:6140')
          .describe(
            'Where the local app sends its calls, host:port; default 127.0.0.1:6140. ' +
              'Env MESHLET_OUTBOUND_LISTEN overrides.',
          ),
      })
      .strict()
      .optional()
      .describe('Outbound listener (local app → mesh); routes by the :authority host (the backend name). Omit for a server-only workload.'),
    upstreams: z
      .record(
        z
          .string()
          .regex(/^[a-zA-Z0-9][a-zA-Z0-9\-_.]*$/, 'expected letters, digits, - _ . (starting with a letter or digit)'),
        upstreamSchema,
      )
      .default({})
      .describe('Backends by name (the :authority host the app calls). Backends without static endpoints are discovered in Consul.'),
    consul: consulSchema.optional().describe('Consul discovery and registration. Omit to use static endpoints only.'),
    connection: z
      .object({
        connectTimeoutMs: ms(3000, 10, 60_000, 'TCP connect + HTTP/2 SETTINGS timeout for upstream sessions.'),
        keepaliveIntervalMs: ms(10_000, 1000, 3_600_000, 'HTTP/2 PING interval on sessions with calls in flight.'),
        keepaliveTimeoutMs: ms(20_000, 100, 3_600_000, 'Close a session whose PING is not answered within this.'),
        idleTimeoutMs: ms(60_000, 1000, 86_400_000, 'Close an upstream session with no calls for this long.'),
        maxSessionsPerEndpoint: z
          .number()
          .int()
          .min(1)
          .max(64)
          .default(8)
          .describe(
            'Upper bound on HTTP/2 connections to one endpoint; another is opened only when every one is at the ' +
              'peer\'s MAX_CONCURRENT_STREAMS, or at maxStreamsPerSession once that applies. Default 8; range 1-64.',
          ),
        maxStreamsPerSession: z
          .number()
          .int()
          .min(1)
          .max(1_000_000)
          .default(25)
          .describe(
            'Calls in flight on one upstream connection before another is opened (up to maxSessionsPerEndpoint), ' +
              'once the endpoint\'s connection flow-control window has held back DATA: each connection brings its ' +
              'own window, which large messages need. Past that, calls share the least loaded connection. ' +
              'Default 25; range 1-1000000.',
          ),
      })
      .strict()
      .default({
        connectTimeoutMs: 3000,
        keepaliveIntervalMs: 10_000,
        keepaliveTimeoutMs: 20_000,
        idleTimeoutMs: 60_000,
        maxSessionsPerEndpoint: 8,
        maxStreamsPerSession: 25,
      })
      .describe('HTTP/2 sessions to upstream endpoints.'),
    admin: z
      .object({
        listen: listenAddress
          .default('127.0.0.1:6191')
          .describe(
            'Admin HTTP server (/metrics /live /ready /config), host:port; default 127.0.0.1:6191 (loopback). ' +
              'Env MESHLET_ADMIN_LISTEN overrides.',
          ),
        allowRemoteMutations: z
          .boolean()
          .optional()
          .describe(
            'Accept PUT /log-level and POST /drain from non-loopback clients; default false. Reads (/metrics, ' +
              '/ready, /clusters) are served to anyone who can reach `listen`, so opening it for Prometheus is safe.',
          ),
      })
      .strict()
      .default({ listen: '127.0.0.1:6191' })
      .describe('The admin HTTP server.'),
    log: z
      .object({
        level: z
          .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
          .default('info')
          .describe('Log level; default info. Env MESHLET_LOG_LEVEL overrides.'),
        accessLog: z.boolean().default(true).describe('One JSON line per call at info level; default true.'),
      })
      .strict()
      .default({ level: 'info', accessLog: true })
      .describe('Logging (pino JSON on stdout).'),
    http2: z
      .object({
        streamWindowBytes: z
          .number()
          .int()
          .min(65_535)
          .max(2 ** 31 - 1)
          .default(1 << 20)
          .describe(
            'Per-stream receive window meshlet advertises (SETTINGS_INITIAL_WINDOW_SIZE), on the listeners and on ' +
              'upstream sessions. Bytes; default 1048576 (1 MiB; the HTTP/2 default of 65535 throttles large ' +
              'messages); range 65535-2147483647.',
          ),
        connectionWindowBytes: z
          .number()
          .int()
          .min(65_535)
          .max(2 ** 31 - 1)
          .default(16 << 20)
          .describe(
            'Connection receive window; credited back only as data is read, so it is also the most one connection ' +
              'holds unread. Bytes; default 16777216 (16 MiB); range 65535-2147483647.',
          ),
        maxConcurrentStreams: z
          .number()
          .int()
          .min(0)
          .max(2 ** 31 - 1)
          .default(128)
          .describe(
            'SETTINGS_MAX_CONCURRENT_STREAMS the listeners advertise and enforce per downstream connection (streams ' +
              'over it are refused with REFUSED_STREAM, which clients retry, and counted in ' +
              'meshlet_streams_refused_total; 1,000 refusals on one connection get it GOAWAY ENHANCE_YOUR_CALM). ' +
              'Default 128, as nginx (http2_max_concurrent_streams; Go\'s net/http2 server uses 250); Envoy advertises ' +
              '2147483647 and relies on its overload manager instead. 0 = unlimited; range 0-2147483647. Upstream ' +
              'peers\' limits are always honoured.',
          ),
        memoryBudgetBytes: z
          .number()
          .int()
          .min(0)
          .max(2 ** 40)
          .default(64 << 20)
          .describe(
            'Memory the streams of all listener connections share: each open stream reserves 8 KiB (its engine ' +
              'state and call, measured) and request data held unread counts too. While it is spent, new streams ' +
              'are refused with REFUSED_STREAM (meshlet_streams_refused_total{reason="memory_budget"}, and a warn ' +
              'log naming the peer). Bytes; default 67108864 (64 MiB: 8,192 open streams); 0 = unlimited.',
          ),
        maxHeaderListBytes: z
          .number()
          .int()
          .min(1024)
          .max(16 << 20)
          .default(64 * 1024)
          .describe(
            'SETTINGS_MAX_HEADER_LIST_SIZE advertised and enforced: a request or response whose metadata is larger ' +
              'is reset. Bytes (RFC 9113 sizing: name + value + 32 per field); default 65536; range 1024-16777216.',
          ),
        handshakeTimeoutMs: ms(10_000, 0, 600_000, 'Listeners: a connection without the HTTP/2 preface and SETTINGS within this is closed (0 = never).'),
        idleTimeoutMs: ms(
          300_000,
          0,
          86_400_000,
          'Listeners: a downstream connection with no stream open for this long is closed gracefully (GOAWAY ' +
            'NO_ERROR; gRPC clients reconnect when they next call), closed 1-1.25 times this after its last stream. ' +
            'Between nginx (75 s) and Envoy (1 h); an idle connection holds about 12 KB (0 = never).',
        ),
      })
      .strict()
      .default({
        streamWindowBytes: 1 << 20,
        connectionWindowBytes: 16 << 20,
        maxConcurrentStreams: 128,
        memoryBudgetBytes: 64 << 20,
        maxHeaderListBytes: 64 * 1024,
        handshakeTimeoutMs: 10_000,
        idleTimeoutMs: 300_000,
      })
      .describe('HTTP/2 settings of the listeners and of the sessions to upstreams (RFC 9113 §6.5.2).'),
    shutdown: z
      .object({
        drainTimeoutMs: ms(30_000, 0, 600_000, 'After SIGTERM, how long in-flight calls may run before they are cut.'),
      })
      .strict()
      .default({ drainTimeoutMs: 30_000 })
      .describe('Graceful shutdown.'),
    // The resilience policy file, hot-reloaded; its own schema is src/policy/schema.ts (docs/policy.md).
    policy: z
      .object({
        file: z
          .string()
          .min(1)
          .describe(
            'Path of the policy file (policy.yaml: timeouts, retries, breakers, limits, outlier detection), relative ' +
              'to the working directory. It must be valid at startup; later changes are applied when valid and ' +
              'rejected (last good kept) when not. Required.',
          ),
        reloadDebounceMs: ms(200, 0, 10_000, 'Quiet time after a change in the file\'s directory before it is re-read.'),
      })
      .strict()
      .optional()
      .describe('Outbound resilience policy. Omit to use the built-in defaults (see docs/policy.md).'),
    // Observability: metrics, tracing, gRPC health. Optional sections, like consul and policy: an omitted
    // one means all of its defaults (`observabilityConfig()`); docs/observability.md lists them.
    metrics: metricsSchema.optional().describe('Prometheus metrics at /metrics on the admin port. Omit for the defaults (per-call metrics on).'),
    tracing: tracingSchema.optional().describe('OpenTelemetry tracing. Omit for the defaults (off).'),
    health: healthSchema.optional().describe("The sidecar's grpc.health.v1 service and health checks. Omit for the defaults."),
    mtls: mtlsSchema.optional(),
    redis: redisSchema.optional(),
  })
  .strict()
  .refine((c) => c.inbound !== undefined || c.outbound !== undefined, {
    message: 'configure at least one of inbound or outbound',
    path: [],
  })
  .describe(
    'meshlet bootstrap config (sidecar.yaml). Static: changing it needs a restart. Needs `service` and at least one ' +
      'of `inbound` or `outbound`.',
  );

/** The validated bootstrap config, defaults applied (deep-frozen by the loader). */
export type BootstrapConfig = z.output<typeof bootstrapSchema>;
/** What a user may write. */
export type BootstrapInput = z.input<typeof bootstrapSchema>;
export type UpstreamConfig = BootstrapConfig['upstreams'][string];
export type BalancingConfig = z.output<typeof balancingSchema>;
export type ConnectionConfig = BootstrapConfig['connection'];
export type Http2Config = BootstrapConfig['http2'];
export type ConsulConfig = z.output<typeof consulSchema>;
export type MetricsConfig = z.output<typeof metricsSchema>;
export type TracingConfig = z.output<typeof tracingSchema>;
export type HealthConfig = z.output<typeof healthSchema>;

/** The observability sections with every default applied, whether or not the config has them. */
export function observabilityConfig(config: BootstrapConfig): {
  metrics: MetricsConfig;
  tracing: TracingConfig;
  health: HealthConfig;
  allowRemoteMutations: boolean;
} {
  return {
    metrics: config.metrics ?? metricsSchema.parse({}),
    tracing: config.tracing ?? tracingSchema.parse({}),
    health: config.health ?? healthSchema.parse({}),
    allowRemoteMutations: config.admin.allowRemoteMutations ?? false,
  };
}
