// SPDX-License-Identifier: Apache-2.0
// The only module that touches the untyped `consul` npm package (2.0.1): a small typed client for the agent calls
// meshlet makes (health/service blocking query, service register/deregister, agent services, and the Connect CA's
// roots and leaf as blocking queries), with
// cancellation and the agent's error text surfaced. Health reads go over node:http directly, so unusable answers
// (truncated, not JSON, missing fields) are told apart from failures. The watcher, resolver and registration build on it.

import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import Consul from 'consul';
import type { ConsulConfig } from '../../config/schema.js';
import { createHealthEntryStream, HealthStreamFailure, type HealthEntryStreamOptions } from './health-stream.js';
import { createHttp1Pool, Http1Error } from './http1-get.js';

/** Options of {@link createConsulClient}. */
export interface ConsulClientOptions {
  /** The local agent, `http(s)://host:port[/prefix]`. Required (config default `http://127.0.0.1:8500`). */
  readonly address: string;
  /** ACL token sent as `X-Consul-Token` on every call. Default none (anonymous). */
  readonly token?: string;
  /** Datacenter for health queries (`?dc=`). Default the agent's own. Agent endpoints are local and never get it. */
  readonly datacenter?: string;
  /** Consul Enterprise namespace, sent as `?ns=` on every call. Default none (the token's / `default`). */
  readonly namespace?: string;
  /** PEM CA bundle that verifies an https agent. Default the Node.js trust store. Overrides `caFile`. */
  readonly ca?: string | Buffer;
  /** Path of a PEM CA bundle, read once at creation (errors then name the file). Default none. */
  readonly caFile?: string;
  /**
   * Budget of a non-blocking call, ms; a blocking query gets `wait + wait/16` (the agent's jitter) on top.
   * Default 10_000; range 100-600_000.
   */
  readonly requestTimeoutMs?: number;
  /**
   * Largest health answer read, bytes; a bigger one is dropped as a bad response (`too_large`) instead of being
   * buffered without bound. Default 64 MiB (a 10,000-instance answer is about 16 MB); range 1 KiB-1 GiB.
   */
  readonly maxResponseBytes?: number;
}

/** Maps the bootstrap `consul` section to client options (env overrides are applied by the config loader). */
export function consulClientOptions(config: ConsulConfig): ConsulClientOptions {
  return {
    address: config.address,
    ...(config.token !== undefined && { token: config.token }),
    ...(config.datacenter !== undefined && { datacenter: config.datacenter }),
    ...(config.namespace !== undefined && { namespace: config.namespace }),
    ...(config.caFile !== undefined && { caFile: config.caFile }),
    requestTimeoutMs: config.requestTimeoutMs,
    maxResponseBytes: config.maxResponseBytes,
  };
}

/**
 * A failed Consul call. `message` carries the agent's own explanation (the response body, e.g.
 * `Invalid check: Interval must be > 0 ...` or `Permission denied: ...`), which the package leaves in
 * `err.response.body` and replaces by a bare `forbidden` in its message once the body is 80 bytes or more.
 */
export class ConsulError extends Error {
  /** The call, e.g. `health.service`, `agent.service.register`. */
  readonly operation: string;
  /** HTTP status when the agent answered; undefined for transport failures (refused, reset, timeout). */
  readonly statusCode: number | undefined;
  /** True when the call was cancelled by its AbortSignal (not a failure of Consul). */
  readonly aborted: boolean;
  /**
   * Set when the agent answered 2xx but the answer cannot be used: cut short (`truncated`), not JSON
   * (`not_json`), JSON of the wrong shape or without a field meshlet needs (`missing_fields`), or larger than
   * the client's bound (`too_large`). Undefined for every other failure.
   */
  readonly badResponse: BadResponseReason | undefined;

  constructor(
    operation: string,
    message: string,
    options: { statusCode?: number; aborted?: boolean; badResponse?: BadResponseReason; cause?: unknown } = {},
  ) {
    super(`consul ${operation}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ConsulError';
    this.operation = operation;
    this.statusCode = options.statusCode;
    this.aborted = options.aborted ?? false;
    this.badResponse = options.badResponse;
  }
}

/** Why a 2xx answer was unusable (see {@link ConsulError.badResponse}); a bounded metric label. */
export type BadResponseReason = 'truncated' | 'not_json' | 'missing_fields' | 'too_large';

/** Every {@link BadResponseReason}, for metrics that report each one (zero included). */
export const BAD_RESPONSE_REASONS: readonly BadResponseReason[] = ['truncated', 'not_json', 'missing_fields', 'too_large'];

/** One instance from `GET /v1/health/service/:name`, reduced to the fields meshlet reads (Consul's names). */
export interface HealthServiceEntry {
  readonly Node: { readonly Node: string; readonly Address: string };
  readonly Service: {
    readonly ID: string;
    readonly Service: string;
    /** May be "": the instance uses its node's address. */
    readonly Address: string;
    readonly Port: number;
    readonly Tags: readonly string[];
    readonly Meta: Readonly<Record<string, string>>;
    /** Consul fills `{Passing: 1, Warning: 1}` when the registration had none. */
    readonly Weights: { readonly Passing: number; readonly Warning: number };
  };
  // No `Checks`: the reader steps over them unparsed (half of an entry's bytes). `?passing` already filters on them.
}

/** A blocking health query. */
export interface HealthServiceQuery {
  readonly service: string;
  /** Only instances whose checks all pass (`?passing`). Default true. */
  readonly passing?: boolean;
  /** `X-Consul-Index` to block on. Omitted or 0: a non-blocking read (no `index`/`wait` sent). */
  readonly index?: bigint;
  /** `wait` of a blocking read, ms. Default 30_000; Consul caps it at 10 min. */
  readonly waitMs?: number;
  /** Aborts the request; the promise then rejects with a ConsulError whose `aborted` is true. */
  readonly signal?: AbortSignal;
  /**
   * When set, each entry is handed to it as soon as it is read and validated, and the result's `entries` is
   * empty: nothing of the answer is kept (a 10,000-instance answer would otherwise be 10,000 objects held, and
   * promoted by the GC, for the whole read). A failed read may have delivered some entries first: consumers commit
   * only once the promise resolves. Its methods are called as methods (pass a class instance: see
   * health-stream.ts on why the reader's call targets must not change from one read to the next).
   */
  readonly sink?: HealthEntrySink;
}

/** Takes the entries of a health answer as they are read (see {@link HealthServiceQuery.sink}). */
export interface HealthEntrySink {
  /**
   * Asked with each entry's fingerprint (a 53-bit hash of its bytes, `Checks` left out; see health-stream.ts)
   * before the entry is parsed. True means the caller holds an identical entry from an earlier answer: this one is
   * then neither parsed, validated nor passed to `add`.
   */
  known(fingerprint: number): boolean;
  /** Takes each entry `known` did not claim, parsed and validated. May throw to abandon the read. */
  add(entry: HealthServiceEntry, fingerprint: number): void;
}

export interface HealthServiceResult {
  /** `X-Consul-Index` of the response (may be 0 or lower than the request's: the caller must sanity-check it). */
  readonly index: bigint;
  readonly entries: readonly HealthServiceEntry[];
  /**
   * CPU time this process used while the body arrived, ms: user + system time (process.cpuUsage(), every thread)
   * from the response headers to the body's end, so the HTTP read, the parse and the garbage collection that ran
   * meanwhile all count (the agent's wait does not). Whatever else the process ran in that window counts too, so
   * it is an upper bound of the read's cost. The watcher paces reads of large services by it. Absent from clients
   * that cannot tell.
   */
  readonly costMs?: number;
}

/** A health check as `PUT /v1/agent/service/register` takes it (Consul's names; durations as Go strings). */
export interface AgentServiceCheck {
  readonly CheckID?: string;
  readonly Name: string;
  readonly GRPC?: string;
  readonly GRPCUseTLS?: boolean;
  readonly TLSServerName?: string;
  readonly TLSSkipVerify?: boolean;
  readonly Interval: string;
  readonly Timeout: string;
  readonly DeregisterCriticalServiceAfter?: string;
}

/** The body of `PUT /v1/agent/service/register`, sent as is (the package's own register() drops Weights). */
export interface AgentServiceRegistration {
  readonly ID: string;
  readonly Name: string;
  readonly Tags: readonly string[];
  readonly Address: string;
  readonly Port: number;
  readonly Meta: Readonly<Record<string, string>>;
  readonly Weights: { readonly Passing: number; readonly Warning: number };
  readonly EnableTagOverride: boolean;
  readonly Checks: readonly AgentServiceCheck[];
}

/** One entry of `GET /v1/agent/services` (the fields meshlet reads). */
export interface AgentServiceInfo {
  readonly ID: string;
  readonly Service: string;
  readonly Address: string;
  readonly Port: number;
  readonly Tags: readonly string[];
  readonly Meta: Readonly<Record<string, string>>;
  readonly Weights: { readonly Passing: number; readonly Warning: number };
}

/** A blocking read of an agent endpoint (same rules as {@link HealthServiceQuery}). */
export interface BlockingQuery {
  /** `X-Consul-Index` to block on. Omitted or 0: a non-blocking read. */
  readonly index?: bigint;
  /** `wait` of a blocking read, ms. Default 30_000; Consul caps it at 10 min. */
  readonly waitMs?: number;
  readonly signal?: AbortSignal;
}

/** One root of `GET /v1/agent/connect/ca/roots` (the fields meshlet reads; Consul's names). */
export interface ConnectCaRoot {
  readonly ID: string;
  readonly Name: string;
  /** PEM. */
  readonly RootCert: string;
  /** PEM intermediates that chain leaves to this root (secondary datacenters, external CAs); often empty. */
  readonly IntermediateCerts: readonly string[];
  readonly Active: boolean;
}

/** `GET /v1/agent/connect/ca/roots`: every trusted root; during a CA rotation, old and new. */
export interface ConnectCaRoots {
  readonly ActiveRootID: string;
  readonly TrustDomain: string;
  readonly Roots: readonly ConnectCaRoot[];
}

/** `GET /v1/agent/connect/ca/leaf/:service`: the service's leaf, which the agent renews before it expires. */
export interface ConnectCaLeaf {
  readonly SerialNumber: string;
  /** PEM: the leaf (and any intermediates). */
  readonly CertPEM: string;
  /** PEM private key. Never logged. */
  readonly PrivateKeyPEM: string;
  readonly Service: string;
  /** The SPIFFE ID in the leaf's URI SAN. */
  readonly ServiceURI: string;
  /** RFC 3339. */
  readonly ValidAfter: string;
  readonly ValidBefore: string;
  readonly ModifyIndex: number;
}

/** A blocking read's result. */
export interface BlockingResult<T> {
  /** `X-Consul-Index` (the caller must sanity-check it, as for health reads). */
  readonly index: bigint;
  readonly value: T;
}

/** The calls meshlet makes to its local agent. Every failure rejects with a {@link ConsulError}. */
export interface ConsulClient {
  /** `GET /v1/health/service/:service?passing[&index=&wait=][&dc=]`. */
  healthService(query: HealthServiceQuery): Promise<HealthServiceResult>;
  /** `PUT /v1/agent/service/register[?replace-existing-checks=true]` with `registration` as the JSON body. */
  registerService(
    registration: AgentServiceRegistration,
    options?: { readonly replaceExistingChecks?: boolean; readonly signal?: AbortSignal },
  ): Promise<void>;
  /** `PUT /v1/agent/service/deregister/:id`. */
  deregisterService(id: string, options?: { readonly signal?: AbortSignal }): Promise<void>;
  /** `GET /v1/agent/services`: the services registered on this agent, by ID. */
  listServices(options?: { readonly signal?: AbortSignal }): Promise<Readonly<Record<string, AgentServiceInfo>>>;
  /** `GET /v1/agent/connect/ca/roots[?index=&wait=]`. */
  connectCaRoots(query?: BlockingQuery): Promise<BlockingResult<ConnectCaRoots>>;
  /** `GET /v1/agent/connect/ca/leaf/:service[?index=&wait=]`; needs `service:write` on `service` with ACLs on. */
  connectCaLeaf(service: string, query?: BlockingQuery): Promise<BlockingResult<ConnectCaLeaf>>;
  /** Destroys the keep-alive agent's sockets. Calls in flight are not aborted (use their signals). Idempotent. */
  close(): void;
}

// ---------------------------------------------------------------------------------------------------------------
// The package, as much of it as this module uses. Its bundled types reject `index`/`wait`/`ctx`/`ca` and type
// every result as `any`, so it is described here once and nothing outside this file sees it.

type RawOptions = Record<string, unknown>;
interface RawRequest {
  readonly name: string;
  readonly path: string;
  readonly type?: 'json';
  readonly body?: unknown;
  readonly query?: Record<string, string>;
  readonly headers?: Record<string, string>;
  readonly ctx?: EventEmitter;
  readonly timeout?: number;
}
/** papi's request record as its `onCreate` extensions see it (`opts.query` is always an object there). */
interface RawPipelineRequest {
  readonly opts: { query: Record<string, string> };
}
interface RawConsul {
  readonly health: { service(opts: RawOptions): Promise<unknown> };
  readonly agent: {
    readonly service: { list(opts: RawOptions): Promise<unknown>; deregister(opts: RawOptions): Promise<unknown> };
  };
  /** papi's raw PUT; with no middleware it resolves with the response (body decoded) or rejects. */
  _put(req: RawRequest): Promise<unknown>;
  /** papi's raw GET, likewise. */
  _get(req: RawRequest): Promise<unknown>;
  /** papi's extension hook (papi README "Extensions"), run for every request before the URL is built. */
  _ext(event: 'onCreate', fn: (request: RawPipelineRequest, next: () => void) => void): void;
  destroy(): void;
}
interface RawResponse {
  readonly statusCode?: number;
  readonly headers?: Record<string, string | string[] | undefined>;
  readonly body?: unknown;
}
const RawConsulCtor = Consul as unknown as new (options: RawOptions) => RawConsul;

/**
 * Creates a client. Reads `caFile` synchronously (startup only) and throws if it cannot. Makes no request.
 */
export function createConsulClient(options: ConsulClientOptions): ConsulClient {
  const url = new URL(options.address);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`consul address "${options.address}": expected http(s)://host:port`);
  }
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const ca = options.ca ?? (options.caFile !== undefined ? readCaFile(options.caFile) : undefined);
  const prefix = url.pathname.replace(/\/+$/, '');
  const raw = new RawConsulCtor({
    baseUrl: `${url.protocol}//${url.host}${prefix}/v1`,
    ...(options.token !== undefined && { defaults: { token: options.token } }),
    // papi passes `ca` to https.request (its CLIENT_OPTIONS), so the keep-alive agent verifies with it.
    ...(ca !== undefined && { ca }),
  });
  if (options.namespace !== undefined) {
    // The package has no `ns` option on any call; the agent takes `?ns=` on all of the endpoints used here.
    const ns = options.namespace;
    raw._ext('onCreate', (request, next) => {
      request.opts.query.ns = ns;
      next();
    });
  }
  const tokenHeader: Record<string, string> = options.token !== undefined ? { 'x-consul-token': options.token } : {};
  let closed = false;

  /** A raw GET of an agent endpoint that supports blocking queries; returns the body and X-Consul-Index. */
  const blockingGet = async (
    op: string,
    path: string,
    query: BlockingQuery,
  ): Promise<{ index: bigint; body: unknown }> => {
    const waitMs = query.waitMs ?? 30_000;
    const blocking = query.index !== undefined && query.index > 0n;
    const res = await call(op, query.signal, (ctx) =>
      raw._get({
        name: op,
        path,
        query: blocking ? { index: String(query.index), wait: `${waitMs}ms` } : {},
        headers: { ...tokenHeader },
        ctx,
        timeout: blocking ? waitMs + Math.ceil(waitMs / 16) + requestTimeoutMs : requestTimeoutMs,
      }),
    );
    return { index: consulIndex(op, res.headers), body: res.body };
  };

  // Health reads bypass the package: papi neither notices a body cut short (it waits for its timeout) nor lets
  // a caller tell a truncated or non-JSON answer from a transport error, and it buffers the whole body, which
  // for 10,000 instances is ~16 MB parsed into one tree. They bypass node:http too, whose new buffer per socket
  // read stays resident (http1-get.ts): a 2xx body is handed over as views into one reused buffer.
  const maxResponseBytes = options.maxResponseBytes ?? 64 * 1024 * 1024;
  const secure = url.protocol === 'https:';
  const pool = createHttp1Pool({
    secure,
    host: url.hostname,
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    ...(ca !== undefined && { ca }),
  });

  /** What a body consumer sees: each piece of a 2xx body (valid only during the call), then the end. Either may throw a ConsulError. */
  interface BodySink {
    chunk(data: Buffer): void;
    end(): void;
  }

  /**
   * GETs `path`, streaming a 2xx body into `sink`; resolves with the headers and the CPU time the process used
   * from the headers to the body's end (`costMs`, see {@link HealthServiceResult.costMs}).
   */
  const streamingGet = async (
    op: string,
    path: string,
    signal: AbortSignal | undefined,
    timeoutMs: number,
    sink: BodySink,
  ): Promise<{ headers: Readonly<Record<string, string>>; costMs: number }> => {
    let status = 0;
    let ok = false;
    let size = 0;
    let headers: Readonly<Record<string, string>> = {};
    let cpuAtHead: NodeJS.CpuUsage | undefined;
    const errorChunks: Buffer[] = [];
    try {
      await pool.get(path, { ...tokenHeader, accept: 'application/json' }, {
        head(s, h) {
          cpuAtHead = process.cpuUsage();
          status = s;
          ok = s >= 200 && s < 300;
          headers = h;
        },
        body(piece) {
          size += piece.length;
          if (size > maxResponseBytes) {
            throw new ConsulError(op, `unexpected response: larger than ${maxResponseBytes} bytes`, {
              statusCode: status,
              badResponse: 'too_large',
            });
          }
          if (!ok) {
            if (size <= MAX_BODY_TEXT * 4) errorChunks.push(Buffer.from(piece)); // the piece is a view into a reused buffer
            return;
          }
          sink.chunk(piece);
        },
        end() {
          if (!ok) {
            const text = bodyText(Buffer.concat(errorChunks)) || (STATUS_CODES[status] ?? 'error');
            throw new ConsulError(op, `HTTP ${status}: ${text}`, { statusCode: status });
          }
          sink.end();
        },
      }, { signal, timeoutMs });
    } catch (err) {
      if (err instanceof ConsulError) throw err;
      if (err instanceof Http1Error) {
        if (err.code === 'ABORT_ERR') throw new ConsulError(op, 'aborted', { aborted: true });
        if (err.afterHead && err.code !== 'ETIMEDOUT') {
          // A body cut short (the agent died mid-answer, a proxy reset the stream).
          const message = `unexpected response: truncated after ${size} bytes`;
          throw ok
            ? new ConsulError(op, message, { statusCode: status, badResponse: 'truncated', cause: err })
            : new ConsulError(op, `HTTP ${status}: ${message}`, { statusCode: status, cause: err });
        }
        throw new ConsulError(op, err.message, { ...(err.afterHead && { statusCode: status }), cause: err });
      }
      throw new ConsulError(op, String(err), { cause: err });
    }
    const cpu = process.cpuUsage(cpuAtHead);
    return { headers, costMs: (cpu.user + cpu.system) / 1000 };
  };

  return {
    async healthService(query) {
      const op = 'health.service';
      const waitMs = query.waitMs ?? 30_000;
      const blocking = query.index !== undefined && query.index > 0n;
      const params = new URLSearchParams({ passing: String(query.passing ?? true) });
      if (blocking) {
        params.set('index', String(query.index));
        params.set('wait', `${waitMs}ms`);
      }
      if (options.datacenter !== undefined) params.set('dc', options.datacenter);
      if (options.namespace !== undefined) params.set('ns', options.namespace);
      const parser = new EntryParser(op, query.sink);
      const stream = createHealthEntryStream(parser);
      const asConsulError = (err: unknown): unknown =>
        err instanceof HealthStreamFailure
          ? new ConsulError(op, `unexpected response: ${err.message}`, { badResponse: err.reason, cause: err })
          : err;
      const res = await streamingGet(
        op,
        `${prefix}/v1/health/service/${encodeURIComponent(query.service)}?${params.toString()}`,
        query.signal,
        // The agent may hold a blocking read for wait + wait/16 before answering.
        blocking ? waitMs + Math.ceil(waitMs / 16) + requestTimeoutMs : requestTimeoutMs,
        {
          chunk(data) {
            try {
              stream.push(data);
            } catch (err) {
              throw asConsulError(err);
            }
          },
          end() {
            try {
              stream.end();
            } catch (err) {
              throw asConsulError(err);
            }
          },
        },
      );
      return { index: consulIndex(op, res.headers), entries: parser.entries, costMs: res.costMs };
    },

    async registerService(registration, opts = {}) {
      // The package's agent.service.register() rebuilds the body and silently drops Weights and
      // EnableTagOverride; the raw PUT sends ours unchanged.
      await call('agent.service.register', opts.signal, (ctx) =>
        raw._put({
          name: 'agent.service.register',
          path: '/agent/service/register',
          type: 'json',
          body: registration,
          query: opts.replaceExistingChecks ? { 'replace-existing-checks': 'true' } : {},
          headers: { ...tokenHeader },
          ctx,
          timeout: requestTimeoutMs,
        }),
      );
    },

    async deregisterService(id, opts = {}) {
      await call('agent.service.deregister', opts.signal, (ctx) =>
        raw.agent.service.deregister({ id, ctx, timeout: requestTimeoutMs }),
      );
    },

    async listServices(opts = {}) {
      const op = 'agent.services';
      const res = await call(op, opts.signal, (ctx) => raw.agent.service.list({ ctx, timeout: requestTimeoutMs }));
      if (!isRecord(res.body)) throw new ConsulError(op, 'unexpected response: not a JSON object');
      return res.body as Readonly<Record<string, AgentServiceInfo>>;
    },

    async connectCaRoots(query = {}) {
      const op = 'agent.connect.ca.roots';
      const res = await blockingGet(op, '/agent/connect/ca/roots', query);
      return { index: res.index, value: parseConnectRoots(op, res.body) };
    },

    async connectCaLeaf(service, query = {}) {
      const op = 'agent.connect.ca.leaf';
      const res = await blockingGet(op, `/agent/connect/ca/leaf/${encodeURIComponent(service)}`, query);
      return { index: res.index, value: parseConnectLeaf(op, res.body) };
    },

    close() {
      if (closed) return;
      closed = true;
      raw.destroy();
      pool.close();
    },
  };
}

/** Top-level keys of a health entry the reader steps over unread (`Checks`: about half of every entry's bytes). */
const SKIP_KEYS: readonly string[] = ['Checks'];

/**
 * The health reader's options for one read: validates each parsed entry and hands it to the sink, or keeps it.
 * A class, so that the reader's calls of `known` and `onEntry` reach the same functions on every read.
 */
class EntryParser implements HealthEntryStreamOptions {
  readonly skipKeys = SKIP_KEYS;
  readonly entries: HealthServiceEntry[] = [];
  constructor(
    private readonly op: string,
    private readonly sink: HealthEntrySink | undefined,
  ) {}

  known(fingerprint: number): boolean {
    return this.sink !== undefined && this.sink.known(fingerprint);
  }

  onEntry(item: unknown, index: number, fingerprint: number): void {
    const entry = parseHealthEntry(this.op, item, index);
    if (this.sink !== undefined) this.sink.add(entry, fingerprint);
    else this.entries.push(entry);
  }
}

/**
 * Runs one package call with a fresh papi context: `includeResponse` makes results `[res, body]` (the only way to
 * read `X-Consul-Index`), and emitting `cancel` on it aborts the HTTP request. Normalizes every outcome.
 */
async function call(
  operation: string,
  signal: AbortSignal | undefined,
  run: (ctx: EventEmitter) => Promise<unknown>,
): Promise<RawResponse> {
  if (signal?.aborted) throw new ConsulError(operation, 'aborted', { aborted: true });
  const ctx = Object.assign(new EventEmitter(), { includeResponse: true });
  const onAbort = (): void => {
    ctx.emit('cancel');
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const result = await run(ctx);
    // With includeResponse the package resolves [res, body?]; the raw _put resolves the response itself.
    if (Array.isArray(result)) {
      const res = (result[0] ?? {}) as RawResponse;
      return result.length > 1 ? { ...pickResponse(res), body: result[1] } : pickResponse(res);
    }
    return pickResponse((result ?? {}) as RawResponse);
  } catch (err) {
    throw toConsulError(operation, err, signal?.aborted === true);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function pickResponse(res: RawResponse): RawResponse {
  return { statusCode: res.statusCode, headers: res.headers, body: res.body };
}

function toConsulError(operation: string, err: unknown, aborted: boolean): ConsulError {
  if (err instanceof ConsulError) return err;
  if (aborted) return new ConsulError(operation, 'aborted', { aborted: true, cause: err });
  const e = (isRecord(err) ? err : {}) as { message?: unknown; response?: RawResponse; isAbort?: unknown };
  const status = e.response?.statusCode;
  if (typeof status === 'number') {
    const text = bodyText(e.response?.body) || (STATUS_CODES[status] ?? 'error');
    return new ConsulError(operation, `HTTP ${status}: ${text}`, { statusCode: status, cause: err });
  }
  // Transport errors: papi prefixes "consul: <call>: "; ours already names the call.
  const message = (typeof e.message === 'string' ? e.message : String(err)).replace(/^consul: [\w.]+: /, '');
  return new ConsulError(operation, message, { aborted: e.isAbort === true, cause: err });
}

const MAX_BODY_TEXT = 1024;

function bodyText(body: unknown): string {
  let text: string;
  if (body === undefined || body === null) text = '';
  else if (typeof body === 'string') text = body;
  else if (Buffer.isBuffer(body)) text = body.toString('utf8');
  else text = JSON.stringify(body);
  text = text.trim();
  return text.length > MAX_BODY_TEXT ? `${text.slice(0, MAX_BODY_TEXT)}...` : text;
}

function parseIndex(header: string | undefined): bigint | undefined {
  if (header === undefined || !/^\d{1,20}$/.test(header)) return undefined;
  return BigInt(header);
}

function readCaFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`consul caFile "${path}": ${(err as Error).message}`, { cause: err });
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const str = (v: unknown): v is string => typeof v === 'string';

function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isRecord(v)) for (const [k, val] of Object.entries(v)) if (str(val)) out[k] = val;
  return out;
}

/** Validates one health/service entry (untrusted JSON) into its typed form; throws on a wrong shape. */
function parseHealthEntry(operation: string, item: unknown, i: number): HealthServiceEntry {
  const bad = (what: string): never => {
    throw new ConsulError(operation, `unexpected response: entry ${i}: ${what}`, { badResponse: 'missing_fields' });
  };
  if (!isRecord(item)) return bad('not an object');
  const node = item.Node;
  const svc = item.Service;
  if (!isRecord(node) || !str(node.Address)) return bad('Node.Address missing');
  if (!isRecord(svc) || !str(svc.ID) || !str(svc.Service)) return bad('Service.ID/Service missing');
  if (typeof svc.Port !== 'number' || !Number.isInteger(svc.Port)) return bad('Service.Port missing');
  const weights = isRecord(svc.Weights) ? svc.Weights : {};
  return {
    Node: { Node: str(node.Node) ? node.Node : '', Address: node.Address },
    Service: {
      ID: svc.ID,
      Service: svc.Service,
      Address: str(svc.Address) ? svc.Address : '',
      Port: svc.Port,
      Tags: Array.isArray(svc.Tags) ? svc.Tags.filter(str) : [],
      Meta: stringRecord(svc.Meta),
      Weights: {
        Passing: typeof weights.Passing === 'number' ? weights.Passing : 1,
        Warning: typeof weights.Warning === 'number' ? weights.Warning : 1,
      },
    },
  };
}

/** Validates the connect/ca/roots body (untrusted JSON); throws on a wrong shape. */
function parseConnectRoots(operation: string, body: unknown): ConnectCaRoots {
  const bad = (what: string): never => {
    throw new ConsulError(operation, `unexpected response: ${what}`);
  };
  if (!isRecord(body)) return bad('not a JSON object');
  if (!str(body.ActiveRootID) || !str(body.TrustDomain)) return bad('ActiveRootID/TrustDomain missing');
  if (!Array.isArray(body.Roots)) return bad('Roots is not an array');
  const roots = body.Roots.map((r: unknown, i): ConnectCaRoot => {
    if (!isRecord(r) || !str(r.ID) || !str(r.RootCert)) return bad(`Roots[${i}]: ID/RootCert missing`);
    return {
      ID: r.ID,
      Name: str(r.Name) ? r.Name : '',
      RootCert: r.RootCert,
      IntermediateCerts: Array.isArray(r.IntermediateCerts) ? r.IntermediateCerts.filter(str) : [],
      Active: r.Active === true,
    };
  });
  return { ActiveRootID: body.ActiveRootID, TrustDomain: body.TrustDomain, Roots: roots };
}

/** Validates the connect/ca/leaf body (untrusted JSON); throws on a wrong shape. Never echoes the key. */
function parseConnectLeaf(operation: string, body: unknown): ConnectCaLeaf {
  const bad = (what: string): never => {
    throw new ConsulError(operation, `unexpected response: ${what}`);
  };
  if (!isRecord(body)) return bad('not a JSON object');
  for (const k of ['CertPEM', 'PrivateKeyPEM', 'ServiceURI', 'ValidAfter', 'ValidBefore'] as const) {
    if (!str(body[k])) bad(`${k} missing`);
  }
  return {
    SerialNumber: str(body.SerialNumber) ? body.SerialNumber : '',
    CertPEM: body.CertPEM as string,
    PrivateKeyPEM: body.PrivateKeyPEM as string,
    Service: str(body.Service) ? body.Service : '',
    ServiceURI: body.ServiceURI as string,
    ValidAfter: body.ValidAfter as string,
    ValidBefore: body.ValidBefore as string,
    ModifyIndex: typeof body.ModifyIndex === 'number' ? body.ModifyIndex : 0,
  };
}

/** The X-Consul-Index of a blocking-capable answer; a missing or invalid one is an error (the watch cannot go on). */
function consulIndex(op: string, headers: Record<string, unknown> | undefined): bigint {
  const header = headers?.['x-consul-index'];
  const index = parseIndex(typeof header === 'string' ? header : undefined);
  if (index === undefined) {
    throw new ConsulError(op, `response has no valid X-Consul-Index header (got ${JSON.stringify(header)})`, {
      badResponse: 'missing_fields',
    });
  }
  return index;
}
