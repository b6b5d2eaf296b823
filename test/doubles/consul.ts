// SPDX-License-Identifier: Apache-2.0
// TEST DOUBLE of a Consul agent's HTTP API, not Consul: an in-process node:http server on 127.0.0.1:0 that
// implements the documented subset meshlet uses, faithfully enough to catch protocol mistakes (key names, blocking
// semantics, ACL and validation errors as Consul words them), plus test controls (instances, health, index reset,
// outages, a request log). Sources: hashicorp/consul website/content/api-docs/{agent/service,health,
// features/blocking}.mdx and agent/agent_endpoint.go, agent/structs/check_type.go, acl/errors.go.
//
// Implemented:
//   PUT /v1/agent/service/register[?replace-existing-checks]  body validated like Consul (unknown keys, Name,
//       Address, Weights, checks and durations); the service joins the catalog on the agent's node with its
//       checks `critical` until setHealth() (Consul's initial status), unless the check carries `Status`.
//       With `runChecks`, the double also runs each check with a `GRPC` target like the agent does (see
//       ConsulDoubleOptions.runChecks); every status change bumps the service's index.
//   PUT /v1/agent/service/deregister/:id   404 `Unknown service ID "x"` when unknown.
//   GET /v1/agent/services                 map by ID; anonymous callers see nothing when ACLs are on.
//   GET /v1/health/service/:name?passing&index&wait&dc&ns   [{Node, Service, Checks}], X-Consul-Index; with
//       index > 0 it hangs until the service's index passes it or `wait` (default 5m, max 10m) elapses.
//       No wait jitter (Consul adds up to wait/16), so tests stay deterministic.
//   With the `connectCa` option (test/doubles/consul-connect-ca.ts, backed by meshlet's built-in CA; fields from
//   api-docs/agent/connect.mdx):
//   GET /v1/agent/connect/ca/roots?index&wait         {ActiveRootID, TrustDomain, Roots[]}, X-Consul-Index, blocking.
//   GET /v1/agent/connect/ca/leaf/:service?index&wait {SerialNumber, CertPEM, PrivateKeyPEM, Service, ServiceURI,
//       ValidAfter, ValidBefore, CreateIndex, ModifyIndex}, X-Consul-Index, blocking; needs service:write with ACLs.
//   Without it both answer 500 like an agent with Connect disabled.
// Not implemented: everything else (404), tag/filter/near (recorded, ignored), Enterprise namespaces (recorded).

import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

import { createConnectCa, type ConnectCa } from './consul-connect-ca.js';
import { startGrpcCheck, type GrpcCheck } from './consul-grpc-check.js';

export type CheckStatus = 'passing' | 'warning' | 'critical';

/** An instance added straight to the catalog (as if registered by another node's agent). */
export interface InstanceSpec {
  readonly service: string;
  readonly port: number;
  /** Default `<service>-<n>`. */
  readonly id?: string;
  /** Service.Address; default "" (clients must then use the node's address). */
  readonly address?: string;
  /** Default `node-<n>`. */
  readonly node?: string;
  /** Node.Address; default `10.0.0.<n>`. */
  readonly nodeAddress?: string;
  readonly tags?: readonly string[];
  readonly meta?: Readonly<Record<string, string>>;
  /** Default {Passing: 1, Warning: 1} (Consul's default). */
  readonly weights?: { readonly Passing: number; readonly Warning: number };
  /** Status of its one service check; default passing. */
  readonly status?: CheckStatus;
}

export interface RequestRecord {
  readonly method: string;
  /** Path without the query string, e.g. `/v1/health/service/orders`. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** From X-Consul-Token, `Authorization: Bearer` or `?token=`. */
  readonly token: string | undefined;
  /** Parsed JSON body of PUTs (undefined when empty or not JSON). */
  readonly body: unknown;
  readonly at: number;
}

export interface ConsulDoubleOptions {
  /** When set, ACLs are on and this is the one valid token (with every permission). Default: ACLs off. */
  readonly aclToken?: string;
  /** Default `dc1`; a `?dc=` naming another one fails like Consul (500 "No path to datacenter"). */
  readonly datacenter?: string;
  /** The agent's own node, where registered services live. Default `node-local` at 127.0.0.1. */
  readonly nodeName?: string;
  readonly nodeAddress?: string;
  /** The first raft index. Default 10. */
  readonly initialIndex?: number;
  /** Serve https with this key and certificate (PEM) instead of http. */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
  /**
   * Run registered gRPC checks like the agent (agent/checks/check.go CheckGRPC): for each check of a registered
   * service with a `GRPC` target (`host:port` or `host:port/service`), call grpc.health.v1.Health/Check on a
   * fresh plaintext connection with the check's `Timeout` (default 10 s), first after `checkStagger` × Interval,
   * then `Interval` after each run ends (Interval clamped to Consul's 1 s minimum). SERVING → passing; any other
   * status, error or timeout → critical. A change bumps the service's index (blocking reads return) and wakes
   * waitFor/onChange. Runners stop on deregister and close(), and restart on re-register. `GRPCUseTLS` checks
   * are not run (they keep their status). setHealth() still works; the next run overrides it. Default false:
   * checks keep their status until setHealth(), so tests that do not opt in never dial anything.
   */
  readonly runChecks?: boolean;
  /**
   * With `runChecks`: the wait before a check's first run, as a fraction of its Interval. The agent draws it
   * uniformly from [0, Interval) (lib.RandomStagger), so a new service stays critical for up to one Interval;
   * the double is deterministic instead. Default 1 (the worst case); 0 runs the first check at once. Range 0-1.
   */
  readonly checkStagger?: number;
  /** Serve the agent's Connect CA endpoints from a throwaway built-in CA. Default: Connect disabled. */
  readonly connectCa?: { readonly trustDomain?: string; readonly leafTtlMs?: number };
}

/** One check's current state, as a test sees it. */
export interface CheckState {
  readonly CheckID: string;
  readonly Status: CheckStatus;
}

export type OutageMode = 'refuse' | 'error' | 'hang';

/**
 * A broken answer to health reads, for fault tests (status 200 and a valid X-Consul-Index each time):
 * `truncate` sends the headers with the full Content-Length and half the body, then destroys the socket;
 * `not-json` sends an HTML error page as `application/json` (what a misconfigured proxy in front of the agent
 * does); `missing-fields` sends entries without `Service.Port`.
 */
export type HealthFault = 'truncate' | 'not-json' | 'missing-fields';

export interface ConsulDouble {
  /** `http://127.0.0.1:<port>` (`https://` with the `tls` option) */
  readonly address: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly requests: readonly RequestRecord[];
  /** Requests whose path starts with `prefix` (e.g. `/v1/health/service/orders`). */
  requestsTo(prefix: string): RequestRecord[];
  /** The register bodies received (parsed JSON, exactly as sent), in order, including rejected ones. */
  readonly registrations: readonly unknown[];
  addInstance(spec: InstanceSpec): string;
  removeInstance(id: string): void;
  /** Sets every check of the instance (registered or added) to `status`. */
  setHealth(id: string, status: CheckStatus): void;
  /** Bumps a service's index without changing anything (an idempotent write; blocking reads return). */
  touch(service: string): void;
  /** Moves the raft index back to `to` (default 1), as after a snapshot restore, and wakes every blocked read. */
  resetIndex(to?: number): void;
  /** The X-Consul-Index a health read of `service` would return now. */
  indexOf(service: string): number;
  /**
   * Starts or ends an outage. `refuse` (default): the listener closes and every connection is destroyed, so
   * clients see ECONNREFUSED/ECONNRESET; ending it listens again on the same port. `error`: every request,
   * including the blocked ones, gets 500 `rpc error making call: No cluster leader`. `hang`: the agent is stuck
   * (SIGSTOP, a long GC pause): connections are accepted and requests read, but nothing is answered, and a
   * blocked read's `wait` does not end, until the outage ends; then every held request is served, in order.
   */
  outage(on: boolean, mode?: OutageMode): Promise<void>;
  /** Corrupts every health read's answer this way until called with undefined (see {@link HealthFault}). */
  faultHealth(fault: HealthFault | undefined): void;
  /** Health reads parked waiting for a change. */
  blockedCount(): number;
  /** Requests whose response has not finished (blocked ones included). */
  activeCount(): number;
  /**
   * Resolves once `predicate` holds, re-checked on every request start/end/park in the double. Rejects after
   * `timeoutMs` (default 5000) with `label`, so a broken test fails with a reason instead of hanging.
   */
  waitFor(predicate: () => boolean, label: string, timeoutMs?: number): Promise<void>;
  /** Calls `listener` on every request start/end/park (and, with `runChecks`, every check run); returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
  /** The checks of instance `id` (registered or added) with their current status; [] when there is no such instance. */
  checksOf(id: string): CheckState[];
  /** Check runners currently scheduled or running (`runChecks`); 0 after every service is deregistered or close(). */
  runningChecks(): number;
  /** With `connectCa`: its trust domain (the ServiceURIs are `spiffe://<it>/ns/default/dc/<dc>/svc/<service>`). */
  readonly connectTrustDomain: string | undefined;
  /** With `connectCa`: a new active root (old one listed, inactive); every leaf is re-issued; blocked reads return. */
  rotateConnectRoot(): Promise<void>;
  /** With `connectCa`: `service` gets a new leaf; blocked leaf reads return it. */
  rotateConnectLeaf(service: string): void;
  /** With `connectCa`: leaves issued for `service` so far. */
  connectLeavesIssued(service: string): number;
  close(): Promise<void>;
}

interface Check {
  CheckID: string;
  Name: string;
  Status: CheckStatus;
  Type: string;
  /** The definition's `GRPC` target, `GRPCUseTLS`, Interval and Timeout (ms), for `runChecks`. */
  grpc?: string;
  grpcUseTls?: boolean;
  intervalMs?: number;
  timeoutMs?: number;
}

interface Instance {
  id: string;
  service: string;
  address: string;
  port: number;
  node: string;
  nodeAddress: string;
  tags: string[];
  meta: Record<string, string>;
  weights: { Passing: number; Warning: number };
  enableTagOverride: boolean;
  checks: Check[];
  createIndex: number;
  modifyIndex: number;
  /** Registered through this agent (listed by /v1/agent/services). */
  local: boolean;
}

interface Blocker {
  readonly service: string;
  readonly minIndex: number;
  readonly finish: () => void;
  readonly fail: (status: number, text: string) => void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const SERVICE_KEYS = new Set(
  [
    'Kind', 'ID', 'Name', 'Tags', 'Address', 'TaggedAddresses', 'Meta', 'Port', 'SocketPath', 'Check', 'Checks',
    'Weights', 'Token', 'EnableTagOverride', 'Proxy', 'Connect', 'Namespace', 'Partition', 'Locality',
  ].map((k) => k.toLowerCase()),
);
const CHECK_KEYS = new Set(
  [
    'CheckID', 'ID', 'Name', 'Status', 'Notes', 'Args', 'ScriptArgs', 'HTTP', 'H2PING', 'H2PingUseTLS', 'Header',
    'Method', 'Body', 'DisableRedirects', 'TCP', 'TCPUseTLS', 'UDP', 'Interval', 'AliasNode', 'AliasService',
    'DockerContainerID', 'Shell', 'GRPC', 'GRPCUseTLS', 'OSService', 'TLSServerName', 'TLSSkipVerify', 'Timeout',
    'TTL', 'SuccessBeforePassing', 'FailuresBeforeWarning', 'FailuresBeforeCritical',
    'DeregisterCriticalServiceAfter', 'OutputMaxSize', 'ServiceID',
  ].map((k) => k.toLowerCase()),
);
const ANONYMOUS_HINT = '. The anonymous token is used implicitly when a request does not specify a token.';

/** Starts the double on 127.0.0.1, port 0. Always `await double.close()` in afterEach. */
export async function startConsulDouble(options: ConsulDoubleOptions = {}): Promise<ConsulDouble> {
  const datacenter = options.datacenter ?? 'dc1';
  const nodeName = options.nodeName ?? 'node-local';
  const nodeAddress = options.nodeAddress ?? '127.0.0.1';
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const tick = (): void => void events.emit('tick');

  let raftIndex = options.initialIndex ?? 10;
  const serviceIndex = new Map<string, number>();
  const instances = new Map<string, Instance>();
  const blockers = new Set<Blocker>();
  const active = new Set<ServerResponse>();
  const requests: RequestRecord[] = [];
  const registrations: unknown[] = [];
  let seq = 0;
  let outageMode: OutageMode | undefined;
  let healthFault: HealthFault | undefined;
  /** `hang` outage: the work the stuck agent will do once it resumes, in arrival order. */
  let held: (() => void)[] = [];
  /** runChecks: one runner per registered check with a GRPC target, keyed by instance ID. */
  const runners = new Map<string, GrpcCheck[]>();

  const indexOf = (service: string): number => serviceIndex.get(service) ?? 1;
  const connect: ConnectCa | undefined =
    options.connectCa === undefined ? undefined : await createConnectCa({ ...options.connectCa, datacenter });
  // Connect CA blocking reads share the per-"service" index map under keys no service name can take.
  const ROOTS_KEY = '\0connect-ca-roots';
  const leafKey = (service: string): string => `\0connect-ca-leaf/${service}`;

  const bump = (service: string): void => {
    raftIndex += 1;
    serviceIndex.set(service, raftIndex);
    for (const b of [...blockers]) if (b.service === service && indexOf(service) > b.minIndex) b.finish();
  };

  // ---- check runners (runChecks) -----------------------------------------------------------------------------

  const stopChecks = (instanceId: string): void => {
    for (const r of runners.get(instanceId) ?? []) r.stop();
    runners.delete(instanceId);
  };

  /** The agent's UpdateCheck: only a status change is a catalog write (index bump, blocking reads return). */
  const checkResult = (instanceId: string, checkId: string, status: CheckStatus): void => {
    const inst = instances.get(instanceId);
    const check = inst?.checks.find((c) => c.CheckID === checkId);
    if (inst !== undefined && check !== undefined && check.Status !== status) {
      check.Status = status;
      inst.modifyIndex = raftIndex + 1;
      bump(inst.service);
    }
    tick();
  };

  const startChecks = (inst: Instance): void => {
    stopChecks(inst.id);
    if (options.runChecks !== true) return;
    const stagger = Math.min(1, Math.max(0, options.checkStagger ?? 1));
    const started: GrpcCheck[] = [];
    for (const c of inst.checks) {
      if (c.grpc === undefined || c.grpcUseTls === true) continue;
      // agent.go: an interval below checks.MinInterval (1 s) is raised to it; CheckGRPC.Start: Timeout 0 → 10 s.
      const intervalMs = Math.max(1000, c.intervalMs ?? 0);
      const checkId = c.CheckID;
      started.push(
        startGrpcCheck({
          target: c.grpc,
          intervalMs,
          timeoutMs: c.timeoutMs !== undefined && c.timeoutMs > 0 ? c.timeoutMs : 10_000,
          firstDelayMs: stagger * intervalMs,
          onResult: (result) => checkResult(inst.id, checkId, result),
        }),
      );
    }
    if (started.length > 0) runners.set(inst.id, started);
  };

  // ---- request handling --------------------------------------------------------------------------------------

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    if (res.writableEnded || res.destroyed) return;
    const isText = typeof body === 'string';
    const payload = isText ? body : JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': isText ? 'text/plain; charset=utf-8' : 'application/json',
      'Content-Length': Buffer.byteLength(payload),
      ...headers,
    });
    res.end(payload);
  };

  const sendFaulty = (res: ServerResponse, fault: HealthFault, entries: unknown[], headers: Record<string, string>): void => {
    if (res.writableEnded || res.destroyed) return;
    if (fault === 'missing-fields') {
      const stripped = entries.map((e) => {
        const entry = e as { Service: Record<string, unknown> };
        const { Port: _port, ...service } = entry.Service;
        return { ...entry, Service: service };
      });
      send(res, 200, stripped, headers);
      return;
    }
    if (fault === 'not-json') {
      const page = '<html><body><h1>502 Bad Gateway</h1></body></html>';
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(page), ...headers });
      res.end(page);
      return;
    }
    const payload = Buffer.from(JSON.stringify(entries));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': payload.length, ...headers });
    res.write(payload.subarray(0, Math.floor(payload.length / 2)), () => res.socket?.destroy());
  };

  const tokenOf = (req: IncomingMessage, query: URLSearchParams): string | undefined => {
    const header = req.headers['x-consul-token'];
    if (typeof header === 'string' && header !== '') return header;
    const auth = req.headers.authorization;
    if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7);
    return query.get('token') ?? undefined;
  };

  /** Consul's ACL resolution: unknown secret → "ACL not found"; none → anonymous (denied everything here). */
  const authorize = (token: string | undefined, permission: string, resource: string): void => {
    if (options.aclToken === undefined) return;
    if (token === undefined) {
      throw new HttpError(403, `Permission denied: anonymous token lacks permission '${permission}' on "${resource}"${ANONYMOUS_HINT}`);
    }
    if (token !== options.aclToken) throw new HttpError(403, 'ACL not found');
  };
  const resolveToken = (token: string | undefined): void => {
    if (options.aclToken !== undefined && token !== undefined && token !== options.aclToken) {
      throw new HttpError(403, 'ACL not found');
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    active.add(res);
    res.on('close', () => {
      active.delete(res);
      tick();
    });
    const url = new URL(req.url ?? '/', 'http://double');
    const raw = await readBody(req);
    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
    }
    const method = req.method ?? 'GET';
    const token = tokenOf(req, url.searchParams);
    const record: RequestRecord = {
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      token,
      body,
      at: Date.now(),
    };
    requests.push(record);
    tick();

    if (outageMode === 'hang') {
      held.push(() => proceed(req, res, method, url, raw, body, token));
      return;
    }
    proceed(req, res, method, url, raw, body, token);
  };

  const proceed = (
    _req: IncomingMessage,
    res: ServerResponse,
    method: string,
    url: URL,
    raw: string,
    body: unknown,
    token: string | undefined,
  ): void => {
    if (outageMode === 'error') {
      send(res, 500, 'rpc error making call: No cluster leader');
      return;
    }
    try {
      route(method, url, raw, body, token, res);
    } catch (err) {
      if (err instanceof HttpError) send(res, err.status, err.message);
      else send(res, 500, String(err));
    }
  };

  const requireMethod = (method: string, allowed: string): void => {
    if (method !== allowed) throw new HttpError(405, `method ${method} not allowed`);
  };

  const route = (
    method: string,
    url: URL,
    raw: string,
    body: unknown,
    token: string | undefined,
    res: ServerResponse,
  ): void => {
    const path = url.pathname;
    if (path === '/v1/agent/service/register') {
      requireMethod(method, 'PUT');
      registrations.push(body);
      register(raw, body, token, url.searchParams);
      send(res, 200, '');
      return;
    }
    if (path.startsWith('/v1/agent/service/deregister/')) {
      requireMethod(method, 'PUT');
      const id = decodeURIComponent(path.slice('/v1/agent/service/deregister/'.length));
      resolveToken(token);
      const inst = instances.get(id);
      if (inst === undefined || !inst.local) throw new HttpError(404, `Unknown service ID "${id}"`);
      authorize(token, 'service:write', inst.service);
      stopChecks(id);
      instances.delete(id);
      bump(inst.service);
      send(res, 200, '');
      return;
    }
    if (path === '/v1/agent/services') {
      requireMethod(method, 'GET');
      resolveToken(token);
      const visible = options.aclToken === undefined || token === options.aclToken;
      const out: Record<string, unknown> = {};
      if (visible) {
        for (const i of instances.values()) {
          if (!i.local) continue;
          out[i.id] = {
            ID: i.id,
            Service: i.service,
            Tags: i.tags,
            Meta: i.meta,
            Port: i.port,
            Address: i.address,
            Weights: i.weights,
            EnableTagOverride: i.enableTagOverride,
            Datacenter: datacenter,
          };
        }
      }
      send(res, 200, out);
      return;
    }
    if (path === '/v1/agent/connect/ca/roots' || path.startsWith('/v1/agent/connect/ca/leaf/')) {
      requireMethod(method, 'GET');
      if (connect === undefined) throw new HttpError(500, 'Connect must be enabled in order to use this endpoint');
      const roots = path === '/v1/agent/connect/ca/roots';
      const service = roots ? '' : decodeURIComponent(path.slice('/v1/agent/connect/ca/leaf/'.length));
      resolveToken(token);
      if (!roots) authorize(token, 'service:write', service);
      const key = roots ? ROOTS_KEY : leafKey(service);
      const { minIndex, waitMs } = blockingParams(url.searchParams);
      const answer = (): void => {
        const body = roots
          ? Promise.resolve(connect.rootsBody())
          : connect.leafBody(service, () => {
              // A new leaf gets the next raft index; readers blocked on the old one return once it is served.
              raftIndex += 1;
              serviceIndex.set(key, raftIndex);
              return raftIndex;
            });
        body.then(
          (b) => {
            wake(key);
            send(res, 200, b, { 'X-Consul-Index': String(indexOf(key)), 'X-Cache': 'HIT' });
          },
          (err: unknown) => send(res, 500, String(err)),
        );
      };
      park(key, minIndex, waitMs, res, answer);
      return;
    }
    if (path.startsWith('/v1/health/service/')) {
      requireMethod(method, 'GET');
      const service = decodeURIComponent(path.slice('/v1/health/service/'.length));
      healthService(service, url.searchParams, token, res);
      return;
    }
    throw new HttpError(404, `Invalid URL path: not a recognized HTTP API endpoint (double): ${path}`);
  };

  const register = (raw: string, body: unknown, token: string | undefined, query: URLSearchParams): void => {
    if (raw.trim() === '') throw new HttpError(400, 'Request decode failed: EOF');
    if (body === undefined) throw new HttpError(400, 'Request decode failed: invalid character in JSON body');
    if (!isRecord(body)) throw new HttpError(400, 'Request decode failed: json: cannot unmarshal into ServiceDefinition');
    const svc = normalize(body, SERVICE_KEYS, '');
    const name = svc.name;
    if (typeof name !== 'string' || name === '') throw new HttpError(400, 'Missing service name');
    const address = typeof svc.address === 'string' ? svc.address : '';
    if (address === '0.0.0.0' || address === '::' || address === '[::]') {
      throw new HttpError(400, 'Invalid service address');
    }
    resolveToken(token);
    let weights = { Passing: 1, Warning: 1 };
    if (svc.weights !== undefined && svc.weights !== null) {
      const w = isRecord(svc.weights) ? lowerKeys(svc.weights) : {};
      const passing = typeof w.passing === 'number' ? w.passing : 0;
      const warning = typeof w.warning === 'number' ? w.warning : 0;
      if (passing < 1) throw new HttpError(400, 'Invalid Weights: Passing must be greater than 0');
      if (warning < 0) throw new HttpError(400, 'Invalid Weights: Warning must be greater or equal than 0');
      weights = { Passing: passing, Warning: warning };
    }
    const port = svc.port === undefined ? 0 : svc.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new HttpError(400, 'Request decode failed: json: cannot unmarshal Port');
    }
    const defs: unknown[] = [];
    if (svc.check !== undefined && svc.check !== null) defs.push(svc.check);
    if (Array.isArray(svc.checks)) defs.push(...svc.checks);
    const id = typeof svc.id === 'string' && svc.id !== '' ? svc.id : name;
    const checks = defs.map((def, i) => parseCheck(def, id, defs.length === 1 && svc.check !== undefined ? 0 : i + 1));
    authorize(token, 'service:write', name);
    const prev = instances.get(id);
    const keepChecks = prev !== undefined && !(query.has('replace-existing-checks') && query.get('replace-existing-checks') !== 'false');
    const inst: Instance = {
      id,
      service: name,
      address,
      port,
      node: nodeName,
      nodeAddress,
      tags: Array.isArray(svc.tags) ? svc.tags.filter((t): t is string => typeof t === 'string') : [],
      meta: isRecord(svc.meta) ? (svc.meta as Record<string, string>) : {},
      weights,
      enableTagOverride: svc.enabletagoverride === true,
      checks: keepChecks ? mergeChecks(prev.checks, checks) : checks,
      createIndex: prev?.createIndex ?? raftIndex + 1,
      modifyIndex: raftIndex + 1,
      local: true,
    };
    instances.set(id, inst);
    // The agent stops a re-registered check's runner and starts the new definition's (agent.go addCheck).
    startChecks(inst);
    if (prev !== undefined && prev.service !== name) bump(prev.service);
    bump(name);
  };

  const parseCheck = (def: unknown, serviceId: string, n: number): Check => {
    if (!isRecord(def)) throw new HttpError(400, 'Request decode failed: json: cannot unmarshal check');
    const c = normalize(def, CHECK_KEYS, 'check.');
    const durations: Record<string, number> = {};
    for (const key of ['interval', 'timeout', 'ttl', 'deregistercriticalserviceafter']) {
      const v = c[key];
      if (v === undefined || v === null) continue;
      if (typeof v === 'number') durations[key] = v / 1e6;
      else if (typeof v === 'string') {
        const ms = parseGoDurationMs(v);
        if (ms === undefined) throw new HttpError(400, `Request decode failed: time: invalid duration "${v}"`);
        durations[key] = ms;
      }
    }
    const interval = durations.interval ?? 0;
    const ttl = durations.ttl ?? 0;
    const type = ['grpc', 'http', 'tcp', 'udp', 'h2ping', 'osservice'].find((k) => nonEmpty(c[k]));
    const script = Array.isArray(c.args) || Array.isArray(c.scriptargs);
    const alias = nonEmpty(c.aliasnode) || nonEmpty(c.aliasservice);
    const intervalCheck = type !== undefined || script;
    let error: string | undefined;
    if (interval > 0 && ttl > 0) error = 'Interval and TTL cannot both be specified';
    else if (intervalCheck && interval <= 0) {
      error = 'Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks';
    } else if (intervalCheck && alias) error = 'Interval cannot be set for Alias checks';
    else if (!intervalCheck && !alias && ttl <= 0) error = 'TTL must be > 0 for TTL checks';
    if (error !== undefined) throw new HttpError(400, `Invalid check: ${error}`);
    const grpcTarget = nonEmpty(c.grpc) ? (c.grpc as string) : undefined;
    const status = c.status;
    if (status !== undefined && status !== '' && status !== 'passing' && status !== 'warning' && status !== 'critical') {
      throw new HttpError(400, "Status for checks must 'passing', 'warning', 'critical'");
    }
    const checkId =
      typeof c.checkid === 'string' && c.checkid !== ''
        ? c.checkid
        : typeof c.id === 'string' && c.id !== ''
          ? c.id
          : n === 0
            ? `service:${serviceId}`
            : `service:${serviceId}:${n}`;
    return {
      CheckID: checkId,
      Name: typeof c.name === 'string' && c.name !== '' ? c.name : `Service '${serviceId}' check`,
      // A new check is critical until it first passes (Consul's default initial status).
      Status: (typeof status === 'string' && status !== '' ? status : 'critical') as CheckStatus,
      Type: type ?? (ttl > 0 ? 'ttl' : alias ? 'alias' : 'script'),
      ...(grpcTarget !== undefined
        ? { grpc: grpcTarget, grpcUseTls: c.grpcusetls === true, intervalMs: interval, timeoutMs: durations.timeout ?? 0 }
        : {}),
    };
  };

  /** `index` and `wait` of a blocking read, validated like Consul (wait defaults to 5 min, capped at 10). */
  const blockingParams = (query: URLSearchParams): { minIndex: number; waitMs: number } => {
    const rawIndex = query.get('index');
    let minIndex = 0;
    if (rawIndex !== null) {
      if (!/^\d+$/.test(rawIndex)) throw new HttpError(400, 'Invalid index');
      minIndex = Number(rawIndex);
    }
    let waitMs = 5 * 60_000;
    const rawWait = query.get('wait');
    if (rawWait !== null) {
      const parsed = parseGoDurationMs(rawWait);
      if (parsed === undefined) throw new HttpError(400, 'Invalid wait time');
      waitMs = Math.min(parsed, 10 * 60_000);
    }
    return { minIndex, waitMs };
  };

  /** Finishes the blocked reads on `key` whose index has been passed. */
  const wake = (key: string): void => {
    for (const b of [...blockers]) if (b.service === key && indexOf(key) > b.minIndex) b.finish();
  };

  /** Answers now, or parks the read until `key`'s index passes `minIndex`, `wait` elapses or the client leaves. */
  const park = (key: string, minIndex: number, waitMs: number, res: ServerResponse, answer: () => void): void => {
    if (minIndex === 0 || indexOf(key) > minIndex) {
      answer();
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const blocker: Blocker = {
      service: key,
      minIndex,
      finish: () => {
        if (outageMode === 'hang') {
          // A stuck agent neither notices the change nor its wait timer; it answers once it resumes.
          if (timer !== undefined) clearTimeout(timer);
          timer = undefined;
          held.push(() => blocker.finish());
          return;
        }
        done();
        answer();
      },
      fail: (status, text) => {
        done();
        send(res, status, text);
      },
    };
    const done = (): void => {
      blockers.delete(blocker);
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      tick();
    };
    timer = setTimeout(blocker.finish, waitMs);
    blockers.add(blocker);
    res.on('close', done);
    tick();
  };

  const healthService = (
    service: string,
    query: URLSearchParams,
    token: string | undefined,
    res: ServerResponse,
  ): void => {
    resolveToken(token);
    authorize(token, 'service:read', service);
    const dc = query.get('dc');
    if (dc !== null && dc !== '' && dc !== datacenter) throw new HttpError(500, 'No path to datacenter');
    const { minIndex, waitMs } = blockingParams(query);
    const passingOnly = query.has('passing') && query.get('passing') !== 'false' && query.get('passing') !== '0';

    const answer = (): void => {
      const entries = [...instances.values()]
        .filter((i) => i.service === service)
        .filter((i) => !passingOnly || i.checks.every((c) => c.Status === 'passing'))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .map((i) => healthEntry(i));
      const headers = {
        'X-Consul-Index': String(indexOf(service)),
        'X-Consul-KnownLeader': 'true',
        'X-Consul-LastContact': '0',
      };
      if (healthFault !== undefined) {
        sendFaulty(res, healthFault, entries, headers);
        return;
      }
      send(res, 200, entries, headers);
    };

    park(service, minIndex, waitMs, res, answer);
  };

  const healthEntry = (i: Instance): unknown => ({
    Node: {
      ID: `00000000-0000-0000-0000-${String(hash(i.node)).padStart(12, '0')}`,
      Node: i.node,
      Address: i.nodeAddress,
      Datacenter: datacenter,
      TaggedAddresses: { lan: i.nodeAddress, wan: i.nodeAddress },
      Meta: {},
      CreateIndex: 1,
      ModifyIndex: 1,
    },
    Service: {
      ID: i.id,
      Service: i.service,
      Tags: i.tags,
      Address: i.address,
      Meta: i.meta,
      Port: i.port,
      Weights: i.weights,
      EnableTagOverride: i.enableTagOverride,
      Connect: {},
      CreateIndex: i.createIndex,
      ModifyIndex: i.modifyIndex,
    },
    Checks: [
      {
        Node: i.node,
        CheckID: 'serfHealth',
        Name: 'Serf Health Status',
        Status: 'passing',
        Notes: '',
        Output: 'Agent alive and reachable',
        ServiceID: '',
        ServiceName: '',
        ServiceTags: [],
        Type: '',
        CreateIndex: 1,
        ModifyIndex: 1,
      },
      ...i.checks.map((c) => ({
        Node: i.node,
        CheckID: c.CheckID,
        Name: c.Name,
        Status: c.Status,
        Notes: '',
        Output: '',
        ServiceID: i.id,
        ServiceName: i.service,
        ServiceTags: i.tags,
        Type: c.Type,
        CreateIndex: i.createIndex,
        ModifyIndex: i.modifyIndex,
      })),
    ],
  });

  // ---- server ------------------------------------------------------------------------------------------------

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => send(res, 500, String(err)));
  };
  const server: Server | TlsServer =
    options.tls !== undefined ? createTlsServer({ key: options.tls.key, cert: options.tls.cert }, onRequest) : createServer(onRequest);
  const listen = (port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) {
        resolve();
        return;
      }
      server.close(() => resolve());
      server.closeAllConnections();
    });

  await listen(0);
  const port = (server.address() as AddressInfo).port;

  const waitFor = (predicate: () => boolean, label: string, timeoutMs = 5000): Promise<void> =>
    new Promise((resolve, reject) => {
      if (predicate()) {
        resolve();
        return;
      }
      const onTick = (): void => {
        if (!predicate()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`consul double: timed out after ${timeoutMs} ms waiting for ${label}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        events.off('tick', onTick);
      };
      events.on('tick', onTick);
    });

  return {
    address: `${options.tls !== undefined ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    registrations,
    requestsTo: (prefix) => requests.filter((r) => r.path.startsWith(prefix)),

    addInstance(spec) {
      seq += 1;
      const id = spec.id ?? `${spec.service}-${seq}`;
      const next = raftIndex + 1;
      instances.set(id, {
        id,
        service: spec.service,
        address: spec.address ?? '',
        port: spec.port,
        node: spec.node ?? `node-${seq}`,
        nodeAddress: spec.nodeAddress ?? `10.0.0.${seq}`,
        tags: [...(spec.tags ?? [])],
        meta: { ...(spec.meta ?? {}) },
        weights: spec.weights ?? { Passing: 1, Warning: 1 },
        enableTagOverride: false,
        checks: [{ CheckID: `service:${id}`, Name: `Service '${id}' check`, Status: spec.status ?? 'passing', Type: 'grpc' }],
        createIndex: next,
        modifyIndex: next,
        local: false,
      });
      bump(spec.service);
      return id;
    },

    removeInstance(id) {
      const inst = instances.get(id);
      if (inst === undefined) throw new Error(`consul double: no instance "${id}"`);
      stopChecks(id);
      instances.delete(id);
      bump(inst.service);
    },

    setHealth(id, status) {
      const inst = instances.get(id);
      if (inst === undefined) throw new Error(`consul double: no instance "${id}"`);
      for (const c of inst.checks) c.Status = status;
      inst.modifyIndex = raftIndex + 1;
      bump(inst.service);
    },

    touch(service) {
      bump(service);
    },

    resetIndex(to = 1) {
      raftIndex = to;
      for (const [s, i] of serviceIndex) serviceIndex.set(s, Math.min(i, to));
      // A snapshot restore abandons every blocking query: they all return with the (lower) index.
      for (const b of [...blockers]) b.finish();
    },

    indexOf,

    async outage(on, mode = 'refuse') {
      if (!on) {
        const was = outageMode;
        outageMode = undefined;
        if (was === 'refuse') await listen(port);
        if (was === 'hang') {
          const work = held;
          held = [];
          for (const w of work) w();
        }
        return;
      }
      outageMode = mode;
      if (mode === 'hang') return;
      if (mode === 'error') {
        for (const b of [...blockers]) b.fail(500, 'rpc error making call: No cluster leader');
      } else {
        for (const b of [...blockers]) blockers.delete(b);
        await stopListening();
      }
    },

    faultHealth(fault) {
      healthFault = fault;
    },

    blockedCount: () => blockers.size,
    activeCount: () => active.size,
    waitFor,
    onChange(listener) {
      events.on('tick', listener);
      return () => void events.off('tick', listener);
    },

    checksOf(id) {
      return (instances.get(id)?.checks ?? []).map((c) => ({ CheckID: c.CheckID, Status: c.Status }));
    },

    runningChecks: () => [...runners.values()].reduce((n, rs) => n + rs.length, 0),

    connectTrustDomain: connect?.trustDomain,
    async rotateConnectRoot() {
      if (connect === undefined) throw new Error('consul double: started without connectCa');
      await connect.rotateRoot(raftIndex + 1);
      bump(ROOTS_KEY);
      for (const key of [...serviceIndex.keys()]) if (key.startsWith(leafKey(''))) bump(key);
    },
    rotateConnectLeaf(service) {
      if (connect === undefined) throw new Error('consul double: started without connectCa');
      connect.rotateLeaf(service);
      bump(leafKey(service));
    },
    connectLeavesIssued: (service) => connect?.issuedCount(service) ?? 0,

    async close() {
      held = [];
      outageMode = undefined;
      for (const id of [...runners.keys()]) stopChecks(id);
      for (const b of [...blockers]) b.fail(503, 'double closing');
      blockers.clear();
      await stopListening();
      connect?.close();
      events.removeAllListeners();
    },
  };
}

// ---- helpers -------------------------------------------------------------------------------------------------

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmpty(v: unknown): boolean {
  return typeof v === 'string' && v !== '';
}

function lowerKeys(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k.toLowerCase(), v]));
}

/**
 * Go's encoding/json matches field names case-insensitively, Consul adds snake_case aliases, and its decoder
 * disallows unknown fields: so `enable_tag_override` and `enableTagOverride` are both fine, `Weight` is not.
 */
function normalize(obj: Record<string, unknown>, known: Set<string>, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const key = k.replace(/_/g, '').toLowerCase();
    if (!known.has(key)) throw new HttpError(400, `Request decode failed: json: unknown field "${where}${k}"`);
    out[key] = v;
  }
  return out;
}

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in ms ("1m30s", "1500ms", "0"); undefined when invalid. */
export function parseGoDurationMs(s: string): number | undefined {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (m === null) return undefined;
    total += Number(m[1]) * (GO_UNITS[m[2] as string] as number);
    pos = re.lastIndex;
  }
  return s.length > 0 ? total : undefined;
}

function mergeChecks(prev: readonly Check[], next: readonly Check[]): Check[] {
  const byId = new Map(prev.map((c) => [c.CheckID, c]));
  for (const c of next) byId.set(c.CheckID, { ...c, Status: byId.get(c.CheckID)?.Status ?? c.Status });
  return [...byId.values()];
}

function hash(s: string): number {
  let h = 0;
  for (const ch of s) h = (h * 31 + ch.charCodeAt(0)) % 1_000_000_000_000;
  return h;
}
