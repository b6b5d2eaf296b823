// SPDX-License-Identifier: Apache-2.0
// A seeded randomized run of many calls of mixed shapes (unary, streaming, errors, cancels, deadlines, resets,
// large messages) through two sidecars in a row (client → outbound → inbound → echo app), ~50 at a time. Every call
// must settle with a status valid for its shape, and afterwards nothing may stay open: no call in flight on either
// listener and no active stream in either pool. MESHLET_CHAOS_SEED=n reruns another seed; failures print the seed.

import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoClient, startEcho, type EchoClient, type EchoServer, type SeenCall } from '../helpers/echo.js';
import { waitForNoLeaks } from '../helpers/leaks.js';
import { seededRandom } from '../helpers/prng.js';
import { useCleanup } from '../helpers/cleanup.js';
import { startSidecar, type Sidecar } from '../helpers/sidecar.js';

const SEED = Number(process.env.MESHLET_CHAOS_SEED ?? 20_240_611);
const CALLS = 600;
const CONCURRENCY = 50;
/** The whole run must settle within this; generous, a loaded 2-core machine runs it in a few seconds. */
const SETTLE_BOUND_MS = 20_000;
/** After the last call settled, both sidecars must be idle within this. */
const IDLE_BOUND_MS = 3_000;
const KIB = 1024;
const MIB = 1024 * KIB;

const { status: S } = grpc;

// ---- The plan: every call's shape and parameters, drawn from the seed up front (independent of timing) ----

/** When the raw client resets: at once, after a timer, or after the k-th response message. */
type CancelAt = { readonly at: 'sync' } | { readonly at: 'timer'; readonly ms: number } | { readonly at: 'message'; readonly k: number };

type Plan = { readonly id: number } & (
  | { readonly kind: 'unary'; readonly size: number }
  | { readonly kind: 'unary-error'; readonly code: number }
  | { readonly kind: 'server-stream'; readonly count: number; readonly size: number; readonly code: number }
  | { readonly kind: 'client-stream'; readonly sizes: readonly number[]; readonly code: number }
  | { readonly kind: 'bidi'; readonly sizes: readonly number[]; readonly pingPong: boolean }
  | { readonly kind: 'cancel-unary'; readonly afterAppSawMs: number; readonly delayMs: number | 'never' }
  | { readonly kind: 'cancel-server-stream'; readonly count: number; readonly size: number; readonly k: number; readonly ends: boolean }
  | { readonly kind: 'cancel-client-stream'; readonly sizes: readonly number[]; readonly afterAppSawMs: number }
  | { readonly kind: 'cancel-bidi'; readonly sizes: readonly number[]; readonly k: number }
  | { readonly kind: 'deadline-unary'; readonly deadlineMs: number; readonly delayMs: number | 'never' }
  | { readonly kind: 'deadline-server-stream'; readonly deadlineMs: number; readonly count: number }
  | { readonly kind: 'raw-deadline'; readonly timeoutMs: number; readonly delayMs: number | 'never' }
  | { readonly kind: 'raw-reset'; readonly rstCode: number; readonly when: 'mid-request' | 'mid-response'; readonly cancel: CancelAt }
);
type Kind = Plan['kind'];

const WEIGHTS: Record<Kind, number> = {
  unary: 14,
  'unary-error': 8,
  'server-stream': 10,
  'client-stream': 7,
  bidi: 8,
  'cancel-unary': 6,
  'cancel-server-stream': 8,
  'cancel-client-stream': 5,
  'cancel-bidi': 5,
  'deadline-unary': 8,
  'deadline-server-stream': 4,
  'raw-deadline': 6,
  'raw-reset': 6,
};

function makePlan(seed: number, n: number): Plan[] {
  const rnd = seededRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const chance = (p: number) => rnd() < p;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  // Mostly small messages; a few large ones (up to 1 MiB) exercise flow control on both hops.
  const size = () => (chance(0.06) ? int(64 * KIB, MIB) : int(0, 2 * KIB));
  const sizes = (lo: number, hi: number) => Array.from({ length: int(lo, hi) }, size);
  const cancelAt = (maxK: number): CancelAt => {
    const r = rnd();
    if (r < 0.25) return { at: 'sync' };
    if (r < 0.6 || maxK < 1) return { at: 'timer', ms: int(0, 25) };
    return { at: 'message', k: int(1, maxK) };
  };
  const total = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);
  const kindOf = (): Kind => {
    let r = rnd() * total;
    for (const [k, w] of Object.entries(WEIGHTS) as Array<[Kind, number]>) if ((r -= w) < 0) return k;
    return 'unary';
  };
  const plans: Plan[] = [];
  for (let id = 0; id < n; id++) {
    const kind = kindOf();
    switch (kind) {
      case 'unary':
        plans.push({ id, kind, size: size() });
        break;
      case 'unary-error':
        plans.push({ id, kind, code: int(1, 16) });
        break;
      case 'server-stream': {
        const big = chance(0.08);
        plans.push({ id, kind, count: big ? int(1, 4) : int(0, 40), size: big ? int(128 * KIB, MIB) : int(4, 2 * KIB), code: chance(0.3) ? int(1, 16) : 0 });
        break;
      }
      case 'client-stream':
        plans.push({ id, kind, sizes: sizes(0, 30), code: chance(0.2) ? int(1, 16) : 0 });
        break;
      case 'bidi':
        plans.push({ id, kind, sizes: sizes(1, 25), pingPong: chance(0.5) });
        break;
      case 'cancel-unary':
        // `delayMs`: the app answers after a while, so the cancel races the response (CANCELLED or the exact echo).
        plans.push({ id, kind, afterAppSawMs: int(0, 10), delayMs: chance(0.6) ? 'never' : int(0, 10) });
        break;
      case 'cancel-server-stream': {
        const count = int(1, 30);
        // `ends`: the app finishes the stream, so the cancel races the trailers (CANCELLED or a complete OK).
        plans.push({ id, kind, count, size: chance(0.2) ? int(64 * KIB, 256 * KIB) : int(4, 2 * KIB), k: int(1, count), ends: chance(0.4) });
        break;
      }
      case 'cancel-client-stream':
        plans.push({ id, kind, sizes: sizes(0, 20), afterAppSawMs: int(0, 10) });
        break;
      case 'cancel-bidi': {
        const s = sizes(1, 20);
        plans.push({ id, kind, sizes: s, k: int(1, s.length) });
        break;
      }
      case 'deadline-unary':
        plans.push({ id, kind, deadlineMs: int(1, 60), delayMs: chance(0.5) ? 'never' : int(0, 60) });
        break;
      case 'deadline-server-stream':
        plans.push({ id, kind, deadlineMs: int(5, 80), count: int(0, 10) });
        break;
      case 'raw-deadline':
        plans.push({ id, kind, timeoutMs: int(1, 60), delayMs: chance(0.5) ? 'never' : int(0, 60) });
        break;
      case 'raw-reset': {
        const when = pick(['mid-request', 'mid-response'] as const);
        plans.push({ id, kind, rstCode: pick([1, 2, 8]), when, cancel: cancelAt(when === 'mid-response' ? 5 : 0) });
        break;
      }
    }
  }
  return plans;
}

// ---- Running one call: resolves with a list of problems (empty when the outcome is valid for the plan) ----

/** A message whose bytes identify the call and its index, so misrouted or reordered data is caught. */
function message(id: number, index: number, size: number): Buffer {
  const b = Buffer.alloc(size, (id + index) % 251);
  if (size >= 8) {
    b.writeUInt32BE(id, 0);
    b.writeUInt32BE(index, 4);
  }
  return b;
}

function metadata(entries: Record<string, string | number>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) md.set(k, String(v));
  return md;
}

const name = (code: number | undefined) => (code === undefined ? 'none' : (S[code] ?? String(code)));

interface Ctx {
  readonly client: EchoClient;
  /** A raw HTTP/2 session to the outbound listener (a new one if the last was closed). */
  raw(): http2.ClientHttp2Session;
  /** Runs `f` once the app received the call whose x-chaos-id is `id`. */
  onAppSaw(id: number, f: () => void): void;
}

/**
 * grpc-js (1.14) still sends a call that was cancelled before its HTTP/2 stream opened, and never resets it: to the
 * proxy that call is alive and never cancelled. So grpc-js cancels are issued only once the app has seen the call
 * (plus a random delay); cancels while the request is still inside the proxies are made by the raw client.
 */
function cancelOnceAppSaw(ctx: Ctx, id: number, ms: number, call: { cancel(): void }): void {
  ctx.onAppSaw(id, () => (ms === 0 ? call.cancel() : setTimeout(() => call.cancel(), ms)));
}

/** Arms a cancel: `sync` runs now, `timer` after ms; `message` is handled by the caller counting messages. */
function arm(cancel: CancelAt, f: () => void): void {
  if (cancel.at === 'sync') f();
  else if (cancel.at === 'timer') setTimeout(f, cancel.ms);
}

/** Settles with the call's status; collects response messages. Every grpc-js streaming call ends with 'status'. */
function collect(call: grpc.ClientReadableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer>, onData?: (n: number) => void) {
  const messages: Buffer[] = [];
  return {
    messages,
    status: new Promise<grpc.StatusObject>((resolve) => {
      call.on('data', (b: Buffer) => {
        messages.push(b);
        onData?.(messages.length);
      });
      call.on('error', () => {});
      call.on('status', resolve);
    }),
  };
}

function unaryCall(c: EchoClient, req: Buffer, md: grpc.Metadata, opts: grpc.CallOptions, started?: (call: grpc.ClientUnaryCall) => void) {
  return new Promise<{ code: number; details: string; response: Buffer | undefined }>((resolve) => {
    const call = c.Unary(req, md, opts, (err, response) => resolve({ code: err?.code ?? S.OK, details: err?.details ?? '', response }));
    started?.(call);
  });
}

function expectedStreamMessages(id: number, count: number, size: number): (got: Buffer[], problems: string[]) => void {
  // echo.ts: message i is `size` bytes of (i % 251) with i as a big-endian u32 at offset 0.
  return (got, problems) => {
    got.forEach((b, i) => {
      if (b.length !== size || (size >= 4 && b.readUInt32BE(0) !== i) || (size > 4 && b[4] !== i % 251)) problems.push(`message ${i} of call ${id} is wrong`);
    });
    if (got.length > count) problems.push(`got ${got.length} messages, the app sent ${count}`);
  };
}

async function run(p: Plan, ctx: Ctx): Promise<string[]> {
  const problems: string[] = [];
  const want = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  const { client } = ctx;
  switch (p.kind) {
    case 'unary': {
      const req = message(p.id, 0, p.size);
      const r = await unaryCall(client, req, new grpc.Metadata(), {});
      want(r.code === S.OK, `status ${name(r.code)} (${r.details}), want OK`);
      want(r.response?.equals(req) === true, `response is not the exact echo (${r.response?.length} of ${req.length} bytes)`);
      break;
    }
    case 'unary-error': {
      const r = await unaryCall(client, message(p.id, 0, 16), metadata({ 'respond-with-status': p.code, 'respond-with-message': `e${p.id}` }), {});
      want(r.code === p.code && r.details === `e${p.id}`, `status ${name(r.code)} (${r.details}), want ${name(p.code)} (e${p.id})`);
      break;
    }
    case 'server-stream': {
      const md = metadata({ 'stream-count': p.count, 'stream-size': p.size, ...(p.code !== 0 ? { 'respond-with-status': p.code, 'respond-with-message': `e${p.id}` } : {}) });
      const { messages, status } = collect(client.ServerStream(Buffer.alloc(0), md));
      const s = await status;
      want(s.code === p.code, `status ${name(s.code)} (${s.details}), want ${name(p.code)}`);
      want(messages.length === p.count, `got ${messages.length} of ${p.count} messages`);
      expectedStreamMessages(p.id, p.count, p.size)(messages, problems);
      break;
    }
    case 'client-stream': {
      const md = p.code !== 0 ? metadata({ 'respond-with-status': p.code, 'respond-with-message': `e${p.id}` }) : new grpc.Metadata();
      const r = await new Promise<{ code: number; response: Buffer | undefined }>((resolve) => {
        const call = client.ClientStream(md, {}, (err, response) => resolve({ code: err?.code ?? S.OK, response }));
        p.sizes.forEach((n, i) => call.write(message(p.id, i, n)));
        call.end();
      });
      want(r.code === p.code, `status ${name(r.code)}, want ${name(p.code)}`);
      if (p.code === S.OK) {
        const total = p.sizes.reduce((a, b) => a + b, 0);
        want(r.response?.readUInt32BE(0) === p.sizes.length && r.response.readUInt32BE(4) === total, `app saw ${r.response?.readUInt32BE(0)} messages / ${r.response?.readUInt32BE(4)} bytes, want ${p.sizes.length} / ${total}`);
      }
      break;
    }
    case 'bidi': {
      const call = client.Bidi(new grpc.Metadata());
      const sent = p.sizes.map((n, i) => message(p.id, i, n));
      const { messages, status } = collect(call, (n) => {
        if (!p.pingPong) return;
        if (n < sent.length) call.write(sent[n] as Buffer);
        else call.end();
      });
      if (p.pingPong) call.write(sent[0] as Buffer);
      else {
        for (const m of sent) call.write(m);
        call.end();
      }
      const s = await status;
      want(s.code === S.OK, `status ${name(s.code)} (${s.details}), want OK`);
      want(messages.length === sent.length && messages.every((m, i) => m.equals(sent[i] as Buffer)), `echoed ${messages.length} of ${sent.length} messages, or not exactly`);
      break;
    }
    case 'cancel-unary': {
      const req = message(p.id, 0, 64);
      const md = metadata({ 'x-chaos-id': p.id, ...(p.delayMs === 'never' ? { 'never-respond': 1 } : { 'delay-ms': p.delayMs }) });
      const r = await unaryCall(client, req, md, {}, (call) => cancelOnceAppSaw(ctx, p.id, p.afterAppSawMs, call));
      if (p.delayMs !== 'never' && r.code === S.OK) want(r.response?.equals(req) === true, 'OK but not the exact echo');
      else want(r.code === S.CANCELLED, `status ${name(r.code)} (${r.details}), want CANCELLED${p.delayMs === 'never' ? '' : ' or OK'}`);
      break;
    }
    case 'cancel-server-stream': {
      const md = metadata({ 'stream-count': p.count, 'stream-size': p.size, ...(p.ends ? {} : { 'never-respond': 1 }) });
      const call = client.ServerStream(Buffer.alloc(0), md);
      const { messages, status } = collect(call, (n) => {
        if (n === p.k) call.cancel();
      });
      const s = await status;
      if (p.ends && s.code === S.OK) want(messages.length === p.count, `OK after ${messages.length} of ${p.count} messages`);
      else want(s.code === S.CANCELLED, `status ${name(s.code)} (${s.details}), want CANCELLED${p.ends ? ' or OK' : ''}`);
      want(messages.length >= p.k, `cancelled after message ${p.k} but saw ${messages.length}`);
      expectedStreamMessages(p.id, p.count, p.size)(messages, problems);
      break;
    }
    case 'cancel-client-stream': {
      // The app answers only after the request ends, which never happens: the cancel is the only way out.
      const r = await new Promise<number>((resolve) => {
        const call = client.ClientStream(metadata({ 'x-chaos-id': p.id }), {}, (err) => resolve(err?.code ?? S.OK));
        p.sizes.forEach((n, i) => call.write(message(p.id, i, n)));
        cancelOnceAppSaw(ctx, p.id, p.afterAppSawMs, call);
      });
      want(r === S.CANCELLED, `status ${name(r)}, want CANCELLED`);
      break;
    }
    case 'cancel-bidi': {
      const call = client.Bidi(new grpc.Metadata());
      const { messages, status } = collect(call, (n) => {
        if (n === p.k) call.cancel();
      });
      p.sizes.forEach((n, i) => call.write(message(p.id, i, n)));
      const s = await status;
      want(s.code === S.CANCELLED, `status ${name(s.code)} (${s.details}), want CANCELLED`);
      want(messages.length >= p.k, `cancelled after echo ${p.k} but saw ${messages.length}`);
      break;
    }
    case 'deadline-unary': {
      // grpc-js, both sidecars and the app each run the deadline's timer: whichever fires first, the client sees
      // DEADLINE_EXCEEDED — or OK when the app's delay was shorter.
      const req = message(p.id, 0, 32);
      const md = metadata(p.delayMs === 'never' ? { 'never-respond': 1 } : { 'delay-ms': p.delayMs });
      const r = await unaryCall(client, req, md, { deadline: Date.now() + p.deadlineMs });
      if (p.delayMs !== 'never' && r.code === S.OK) want(r.response?.equals(req) === true, 'OK but not the exact echo');
      else want(r.code === S.DEADLINE_EXCEEDED, `status ${name(r.code)} (${r.details}), want DEADLINE_EXCEEDED${p.delayMs === 'never' ? '' : ' or OK'}`);
      break;
    }
    case 'deadline-server-stream': {
      const md = metadata({ 'stream-count': p.count, 'stream-size': 64, 'never-respond': 1 });
      const { messages, status } = collect(client.ServerStream(Buffer.alloc(0), md, { deadline: Date.now() + p.deadlineMs }));
      const s = await status;
      want(s.code === S.DEADLINE_EXCEEDED, `status ${name(s.code)} (${s.details}), want DEADLINE_EXCEEDED`);
      expectedStreamMessages(p.id, p.count, 64)(messages, problems);
      break;
    }
    case 'raw-deadline': {
      // A raw HTTP/2 client enforces no deadline: the outbound sidecar's timer (or one further in) must end it.
      const r = await rawCall(ctx.raw(), '/test.Echo/Unary', { 'grpc-timeout': `${p.timeoutMs}m`, ...(p.delayMs === 'never' ? { 'never-respond': '1' } : { 'delay-ms': String(p.delayMs) }) }, message(p.id, 0, 40));
      if (p.delayMs !== 'never' && r.status === '0') want(r.body.equals(frame(message(p.id, 0, 40))), 'OK but not the exact echo');
      else want(r.status === String(S.DEADLINE_EXCEEDED), `grpc-status ${r.status} (rst ${r.rstCode}), want 4${p.delayMs === 'never' ? '' : ' or 0'}`);
      break;
    }
    case 'raw-reset': {
      // The client resets its stream with an arbitrary code mid-request (a message cut in half) or mid-response.
      const session = ctx.raw();
      const stream =
        p.when === 'mid-request'
          ? session.request({ ...RAW_HEADERS, ':path': '/test.Echo/ClientStream' })
          : session.request({ ...RAW_HEADERS, ':path': '/test.Echo/ServerStream', 'stream-count': '8', 'stream-size': '512', 'never-respond': '1' });
      const closed = new Promise<void>((resolve) => stream.on('close', resolve));
      stream.on('error', () => {});
      const reset = () => {
        if (!stream.closed) stream.close(p.rstCode);
      };
      if (p.when === 'mid-request') {
        const whole = frame(message(p.id, 0, 1000));
        stream.write(whole);
        stream.write(whole.subarray(0, 500));
      } else stream.end(frame(Buffer.alloc(0)));
      let seen = 0;
      stream.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (p.cancel.at === 'message' && seen >= p.cancel.k * 517) reset();
      });
      // mid-response with `message`: the app sends 8 messages and never ends, so the k-th (k ≤ 5) always comes.
      arm(p.cancel, reset);
      await closed;
      break;
    }
  }
  return problems;
}

const RAW_HEADERS = { ':method': 'POST', ':authority': 'echo', 'content-type': 'application/grpc', te: 'trailers' };

/** The gRPC length-prefixed framing of one uncompressed message. */
function frame(m: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(m.length, 1);
  return Buffer.concat([h, m]);
}

/** A raw unary call; resolves once the stream closed, with grpc-status from Trailers-Only headers or trailers. */
function rawCall(session: http2.ClientHttp2Session, path: string, headers: Record<string, string>, req: Buffer) {
  return new Promise<{ status: string | undefined; body: Buffer; rstCode: number }>((resolve) => {
    const stream = session.request({ ...RAW_HEADERS, ':path': path, ...headers });
    let status: string | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status ??= h['grpc-status'] as string | undefined;
    });
    stream.on('trailers', (t) => {
      status ??= t['grpc-status'] as string | undefined;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('close', () => resolve({ status, body: Buffer.concat(chunks), rstCode: stream.rstCode ?? 0 }));
    stream.end(frame(req));
  });
}

// ---- The run ----

let echo: EchoServer;
let sidecarA: Sidecar; // the caller's sidecar (outbound)
let sidecarB: Sidecar; // the callee's sidecar (inbound)
const clients: EchoClient[] = [];
const rawSessions: http2.ClientHttp2Session[] = [];
/** Callbacks waiting for the app to receive a call, by x-chaos-id. */
const appSaw = new Map<string, () => void>();

function rawSession(): http2.ClientHttp2Session {
  const last = rawSessions[rawSessions.length - 1];
  if (last !== undefined && !last.closed && !last.destroyed) return last;
  // A new session when the last one went away, e.g. closed by the rapid-reset guard after a seed with many resets.
  const session = http2.connect(`http://${sidecarA.outbound}`);
  session.on('error', () => {});
  rawSessions.push(session);
  return session;
}

beforeAll(async () => {
  echo = await startEcho();
  sidecarB = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: echo.address } }, { level: 'silent' });
  sidecarA = await startSidecar(
    { service: { name: 'caller' }, outbound: { listen: '127.0.0.1:0' }, upstreams: { echo: { endpoints: [sidecarB.inbound as string] } } },
    { level: 'silent' },
  );
  // Two channels with their own subchannels (grpc-js shares equal ones), so calls spread over two connections.
  for (let i = 0; i < 2; i++) clients.push(echoClient(sidecarA.outbound as string, 'echo', { 'grpc.use_local_subchannel_pool': 1 }));
  echo.events.on('call', (seen: SeenCall) => {
    const id = String(seen.metadata.get('x-chaos-id')[0] ?? '');
    appSaw.get(id)?.();
    appSaw.delete(id);
  });
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of rawSessions) s.destroy();
  await Promise.all([sidecarA?.close(), sidecarB?.close()]);
  await echo?.close();
});

describe('chaos: many mixed calls through two sidecars', () => {
  it(`every call settles with a valid status and nothing stays open afterwards (seed ${SEED})`, { timeout: SETTLE_BOUND_MS + IDLE_BOUND_MS + 10_000 }, async () => {
    const plans = makePlan(SEED, CALLS);
    const kinds = new Set(plans.map((p) => p.kind));
    expect([...kinds].sort(), `seed ${SEED}: the plan should cover every shape`).toEqual(Object.keys(WEIGHTS).sort());

    const failures: string[] = [];
    const pending = new Map<number, Plan>();
    let next = 0;
    const worker = async () => {
      while (next < plans.length) {
        const p = plans[next++] as Plan;
        pending.set(p.id, p);
        const ctx: Ctx = {
          client: clients[p.id % clients.length] as EchoClient,
          raw: rawSession,
          onAppSaw: (id, f) => appSaw.set(String(id), f),
        };
        try {
          for (const problem of await run(p, ctx)) failures.push(`${problem} — ${JSON.stringify(p)}`);
        } catch (err) {
          failures.push(`threw ${String(err)} — ${JSON.stringify(p)}`);
        }
        pending.delete(p.id);
      }
    };
    const all = Promise.all(Array.from({ length: CONCURRENCY }, worker));
    let bound: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      all.then(() => true),
      new Promise<false>((resolve) => {
        bound = setTimeout(() => resolve(false), SETTLE_BOUND_MS);
      }),
    ]);
    clearTimeout(bound);
    const hung = [...pending.values()].map((p) => JSON.stringify(p));
    expect(settled ? [] : hung, `seed ${SEED}: calls that never settled within ${SETTLE_BOUND_MS} ms`).toEqual([]);
    expect(failures, `seed ${SEED}: calls that ended with a status invalid for their shape`).toEqual([]);

    const leaks = await waitForNoLeaks({ 'sidecar A (outbound)': sidecarA.app, 'sidecar B (inbound)': sidecarB.app }, IDLE_BOUND_MS);
    expect(leaks, `seed ${SEED}: still open ${IDLE_BOUND_MS} ms after every call settled`).toEqual([]);
  });
});

// Minimal reproductions of what the chaos run found, each through one sidecar with a fresh pool.
describe('upstream pool streams are released at awkward moments', () => {
  const defer = useCleanup();

  async function oneSidecar() {
    const app = await startEcho();
    defer(() => app.close());
    const side = await startSidecar({ service: { name: 'echo' }, inbound: { listen: '127.0.0.1:0', app: app.address } }, { level: 'silent' });
    defer(() => side.close());
    const client = echoClient(side.inbound as string);
    defer(() => client.close());
    return { side, client };
  }

  it('releases the pool stream of a Trailers-Only error reply', async () => {
    const { side, client } = await oneSidecar();
    const r = await unaryCall(client, Buffer.from('x'), metadata({ 'respond-with-status': S.NOT_FOUND }), {});
    expect(r.code).toBe(S.NOT_FOUND);
    // grpc-js answers an error before any message as one HEADERS frame with END_STREAM; nobody reads its (empty) body.
    expect(await waitForNoLeaks({ sidecar: side.app }, 1000)).toEqual([]);
  });

  it('releases the pool stream of a server stream the app finished while the client was slow, then cancelled', async () => {
    const { side, client } = await oneSidecar();
    // A raw client that does not read: after 64 KiB (its window) the sidecar holds the relay back, and the rest of
    // the 3 × 256 KiB fits the sidecar's 1 MiB upstream window, so the app sends everything and its trailers: the
    // upstream stream is complete on the wire while its body waits, unread, in the sidecar.
    const session = http2.connect(`http://${side.inbound}`);
    defer(() => session.destroy());
    session.on('error', () => {});
    const stream = session.request({ ...RAW_HEADERS, ':path': '/test.Echo/ServerStream', 'stream-count': '3', 'stream-size': String(256 * KIB) });
    stream.pause();
    stream.on('error', () => {});
    stream.end(frame(Buffer.alloc(0)));
    await new Promise((resolve) => stream.once('response', resolve));
    // One more call on the same upstream connection (the pool has one): once it is answered, the sidecar has read
    // every frame the app sent before it, including the end of the stream above (TCP keeps the order).
    expect((await unaryCall(client, Buffer.from('sync'), new grpc.Metadata(), {})).code).toBe(S.OK);
    const closed = new Promise((resolve) => stream.once('close', resolve));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await closed;
    expect(await waitForNoLeaks({ sidecar: side.app }, 1000)).toEqual([]);
  });
});
