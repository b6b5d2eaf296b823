// SPDX-License-Identifier: Apache-2.0
// The local demo mesh (`npm start`): user-service and order-service, each behind its own meshlet sidecar, and an
// external caller hitting order-service's sidecar inbound port every second. Ctrl-C / SIGTERM stops it all.
// A browser page (examples/web) calls user-service through a gRPC-Web gateway (meshlet proxy --grpc-web-origin):
// the page on :7190, the gateway on :7180 (another origin, so CORS is real); the demo prints the page's URL.
// Sidecar to sidecar is mTLS: at start the demo makes a CA in its temp dir (`meshlet ca init`), the sidecars issue
// their leaves from it, and user-service's sidecar authorizes order-service by its SPIFFE ID (and denies it one
// method, on purpose).
//
//   caller ──▶ :7243 order sidecar ──▶ :7201 order-service ──▶ :7240 order sidecar (outbound, :authority
//   user-service) ══mTLS══▶ :7143 user sidecar (inbound, authz) ──▶ :7101 user-service
//
// Flags: --calls N (stop after N rounds; exit 1 unless every call got its expected status).
// Env: MESHLET_BIN (sidecar command line; default `node dist/src/main.js`), CONSUL_HTTP_ADDR (use the Consul configs),
// DEMO_READY_TIMEOUT_MS (default 30000; 60000 with Consul), DEMO_INTERVAL_MS (default 1000).

import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';

import { fromRoot, projectRoot } from '../services/shared/project-root.js';
import { createDemoCaller, formatOutcome } from './caller.js';
import { describeExit, logTail, startChild, type Child } from './children.js';
import { DEMO_TRUST_DOMAIN, demoConfigs, demoMode, writeEffectiveConfigs } from './configs.js';
import { caInitCommand, demoPlan, meshletCommand, missingBuildOutputs, serviceEntries } from './plan.js';
import { DEMO_HOST, DEMO_PORTS, takenPorts } from './ports.js';
import { formatIdentity, grpcServing, httpOk, NotReadyError, sidecarIdentity, upstreamReady, waitFor } from './readiness.js';
import { PAGE_DIR, startPageServer } from '../web/page-server.js';

const log = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
const fail = (message: string): never => {
  process.stderr.write(`demo: ${message}\n`);
  process.exit(1);
};

const positiveInt = (raw: string | undefined, name: string, fallback: number): number => {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) fail(`${name} must be a positive integer, got "${raw}"`);
  return n;
};

const { values: flags } = parseArgs({ options: { calls: { type: 'string' } }, strict: true });
const rounds = flags.calls === undefined ? undefined : positiveInt(flags.calls, '--calls', 1);
const mode = demoMode(process.env);
const readyTimeoutMs = positiveInt(process.env.DEMO_READY_TIMEOUT_MS, 'DEMO_READY_TIMEOUT_MS', mode === 'consul' ? 60_000 : 30_000);
const intervalMs = positiveInt(process.env.DEMO_INTERVAL_MS, 'DEMO_INTERVAL_MS', 1000);

// 1. Preconditions: build outputs and free ports, each with an error that says what to do.
const root = projectRoot();
const meshlet = meshletCommand(process.env, root);
const entries = serviceEntries();
const missing = missingBuildOutputs([
  entries.userService,
  entries.orderService,
  join(PAGE_DIR, 'app.js'),
  // Without MESHLET_BIN the command is `node <flags> <root>/dist/src/main.js`: the script is the last argument.
  ...(process.env.MESHLET_BIN ? [] : [meshlet.args.at(-1)!]),
]);
if (missing.length > 0) {
  fail(`missing build output: ${missing.map((p) => relative(root, p)).join(', ')}\n` +
    '      run `npm run build` (npm start does), or set MESHLET_BIN to the meshlet command');
}
const taken = await takenPorts();
if (taken.length > 0) {
  fail(`demo port(s) already in use: ${taken.map(([role, port]) => `${port} (${role})`).join(', ')}\n` +
    '      stop what holds them (`ss -ltnp` shows it), e.g. an earlier demo still running');
}

// 2. The mesh CA and the configs that name it, in the demo's temp dir (kept afterwards, with the logs).
const logDir = mkdtempSync(join(tmpdir(), 'meshlet-demo-'));
const caDir = join(logDir, 'ca');
const caInit = caInitCommand(meshlet, caDir, DEMO_TRUST_DOMAIN);
try {
  await promisify(execFile)(caInit.command, caInit.args, { cwd: root, timeout: 30_000 });
} catch (err) {
  const { stderr, message } = err as { stderr?: string; message: string };
  fail(`${[caInit.command, ...caInit.args].join(' ')} failed: ${stderr?.trim() || message}`);
}
const sourceConfigs = demoConfigs(mode);
let configs: ReturnType<typeof writeEffectiveConfigs>;
try {
  configs = writeEffectiveConfigs(sourceConfigs, caDir, join(logDir, 'config'));
} catch (err) {
  fail(`cannot write the effective configs: ${err instanceof Error ? err.message : String(err)}`);
}

// 3. Start the children. Ctrl-C and SIGTERM abort `stop`; a child exiting on its own aborts `died`.
const plan = demoPlan({ configs: configs!, root, meshlet, nodePath: process.execPath, entries, logDir });
const stop = new AbortController();
const died = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stop.signal.aborted) return; // already stopping; the children get a bounded wait, then SIGKILL
    log(`\n${signal}: stopping`);
    stop.abort(new Error(signal));
  });
}

log(`meshlet demo (${mode} discovery${mode === 'consul' ? ` via ${process.env.CONSUL_HTTP_ADDR}` : ''})`);
log(`  sidecar command: ${[meshlet.command, ...meshlet.args].join(' ')}`);
log(`  mesh CA: ${caDir}  (meshlet ca init, trust domain ${DEMO_TRUST_DOMAIN}, with an intermediate)`);
log(`  configs: ${relative(root, fromRoot('examples', 'demo', 'config', mode))}/, run as ${join(logDir, 'config')}/` +
  ' (mtls.source.ca.dir set to the mesh CA)');
log(`  logs:    ${logDir}/*.log  (tail -f to follow)`);
const children: Child[] = plan.children.map(startChild);
let pageServer: Awaited<ReturnType<typeof startPageServer>> | undefined;
for (const child of children) {
  void child.exited.then((exit) => {
    if (stop.signal.aborted) return;
    const tail = exit.error ? '' : `; last log lines (${child.logFile}):\n${logTail(child.logFile)}`;
    died.abort(new Error(`${child.name} ${describeExit(exit)}${tail}`));
  });
}
const running = AbortSignal.any([stop.signal, died.signal]);

/** Stops every child (SIGTERM, bounded wait, SIGKILL) and exits with `code`. */
async function shutdown(code: number): Promise<never> {
  if (!stop.signal.aborted) stop.abort(new Error('shutdown'));
  await pageServer?.close();
  const exits = await Promise.all(children.map((c) => c.stop(10_000)));
  exits.forEach((exit, i) => log(`  ${children[i]!.name}: ${describeExit(exit)}`));
  process.exit(code);
}

// 4. Ready when every app answers its health Check and every sidecar's /ready is 200. No fixed sleeps: poll.
// With Consul, also when order-service's sidecar has a ready user-service endpoint (its /clusters): its /ready
// does not wait for one, user-service passes only once the agent ran its first health check (up to one check
// interval after registration: lib.RandomStagger), and the sidecar sees that on its next blocking read (which its
// token bucket may delay by up to 15 s). Calls made before that would get UNAVAILABLE.
const startedAt = Date.now();
const USER_SERVICE_ROUTABLE = 'user-service endpoint at order-service sidecar';
const orderAdmin = `http://${DEMO_HOST}:${DEMO_PORTS.orderAdmin}`;
try {
  const waitOptions = { deadlineMs: startedAt + readyTimeoutMs, signal: running };
  await Promise.all([
    ...plan.readiness.map((t) =>
      waitFor(t.name, t.kind === 'sidecar-admin' ? () => httpOk(t.target) : () => grpcServing(t.target), waitOptions),
    ),
    ...(mode === 'consul' ? [waitFor(USER_SERVICE_ROUTABLE, () => upstreamReady(orderAdmin, 'user-service'), waitOptions)] : []),
  ]);
} catch (err) {
  if (died.signal.aborted) {
    process.stderr.write(`demo: ${(died.signal.reason as Error).message}\n`);
  } else if (!stop.signal.aborted) {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
    const laggard = err instanceof NotReadyError ? children.find((c) => c.name === err.what) : undefined;
    if (laggard) process.stderr.write(`      last log lines (${laggard.logFile}):\n${logTail(laggard.logFile)}\n`);
    else if (err instanceof NotReadyError && err.what === USER_SERVICE_ROUTABLE) {
      const health = `${DEMO_HOST}:${DEMO_PORTS.userHealth}`;
      process.stderr.write(`      ${orderAdmin}/clusters shows no ready user-service endpoint: does Consul list user-service as\n` +
        `      passing (its gRPC check must reach the sidecar's plaintext health port ${health})? Sidecar logs: ${logDir}\n`);
    }
    else process.stderr.write(`      see the logs in ${logDir}\n`);
  }
  await shutdown(stop.signal.aborted && !died.signal.aborted ? 0 : 1);
}

log(`ready in ${Date.now() - startedAt} ms`);
for (const { name, ready, config } of plan.adminUrls) log(`  ${name.padEnd(22)} ${ready}  ${config}`);

// 5. Who is who: the SPIFFE ID each sidecar presents, from its admin /certs (ready implies a certificate).
log('identities (mTLS between the sidecars; user-service\'s sidecar authorizes callers by these):');
try {
  for (const { name, admin } of plan.adminUrls) log(`  ${formatIdentity(name, await sidecarIdentity(admin))}`);
} catch (err) {
  process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
  await shutdown(1);
}
try {
  pageServer = await startPageServer(plan.web.pageHost, plan.web.pagePort);
} catch (err) {
  process.stderr.write(`demo: cannot serve the web page: ${err instanceof Error ? err.message : String(err)}\n`);
  await shutdown(1);
}
log(`web page (gRPC-Web through meshlet at ${plan.web.api}): ${plan.web.page}`);
log(`calling order-service through its sidecar inbound ${plan.callerAddress} every ${intervalMs} ms; Ctrl-C to stop\n`);

// 6. The caller loop.
const caller = createDemoCaller({ address: plan.callerAddress });
let unexpected = 0;
for (let n = 0; !running.aborted && (rounds === undefined || n < rounds); n++) {
  for (const outcome of await caller.round(n)) {
    if (outcome.code !== outcome.expected) unexpected++;
    log(formatOutcome(outcome, new Date()));
  }
  if (rounds !== undefined && n + 1 >= rounds) break;
  await delay(intervalMs, undefined, { signal: running }).catch(() => {});
}
caller.close();

if (died.signal.aborted) {
  process.stderr.write(`demo: ${(died.signal.reason as Error).message}\n`);
  await shutdown(1);
}
if (rounds !== undefined) log(`${rounds} round(s) done, ${unexpected} unexpected result(s)`);
await shutdown(rounds !== undefined && unexpected > 0 ? 1 : 0);
