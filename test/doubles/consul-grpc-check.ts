// SPDX-License-Identifier: Apache-2.0
// TEST DOUBLE helper: the Consul agent's gRPC check runner (agent/checks/check.go CheckGRPC + grpc.go probe), used
// by the Consul double's `runChecks` option. One grpc.health.v1.Health/Check per run on a fresh connection, first
// run after a stagger, then one run per Interval measured from the end of the previous run, as the agent does.

import * as grpc from '@grpc/grpc-js';

/** What one run of a check concluded: SERVING → passing; any other status, error or timeout → critical. */
export type GrpcCheckResult = 'passing' | 'critical';

/** Options of startGrpcCheck. */
export interface GrpcCheckOptions {
  /** The check's `GRPC` field: `host:port`, or `host:port/service` to ask about one service (Consul's syntax). */
  readonly target: string;
  /** Time between the end of one run and the start of the next, ms (already clamped to Consul's 1 s minimum). */
  readonly intervalMs: number;
  /** Deadline of one Check call, ms (Consul's default is 10 s when the check sets none). */
  readonly timeoutMs: number;
  /** Wait before the first run, ms (the agent draws it uniformly from [0, Interval)). */
  readonly firstDelayMs: number;
  /** Called after every run, unless the runner was stopped meanwhile. */
  readonly onResult: (result: GrpcCheckResult, output: string) => void;
}

/** A running check; stop() cancels the call in flight and the next run (idempotent). */
export interface GrpcCheck {
  stop(): void;
}

const CHECK_METHOD = '/grpc.health.v1.Health/Check';
/** grpc.health.v1.HealthCheckResponse.ServingStatus */
const STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** Starts the runner; it runs until stop(). */
export function startGrpcCheck(options: GrpcCheckOptions): GrpcCheck {
  const slash = options.target.indexOf('/');
  const server = slash < 0 ? options.target : options.target.slice(0, slash);
  const service = slash < 0 ? '' : options.target.slice(slash + 1);
  const request = encodeCheckRequest(service);
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let client: grpc.Client | undefined;
  let call: grpc.ClientUnaryCall | undefined;

  const run = (): void => {
    timer = undefined;
    // A fresh connection per run, closed after it, like the agent's probe (grpc.go: Dial, Check, Close).
    const c = new grpc.Client(server, grpc.credentials.createInsecure());
    client = c;
    call = c.makeUnaryRequest(
      CHECK_METHOD,
      (b: Buffer) => b,
      decodeServingStatus,
      request,
      { deadline: Date.now() + options.timeoutMs },
      (err, status) => {
        c.close();
        client = undefined;
        call = undefined;
        if (stopped) return;
        if (err !== null) options.onResult('critical', `rpc error: code = ${grpc.status[err.code] ?? err.code} desc = ${err.details}`);
        else if (status === 1) options.onResult('passing', `gRPC check ${options.target}: success`);
        else options.onResult('critical', `gRPC ${options.target} serving status: ${STATUS_NAMES[status ?? 0] ?? status}`);
        if (!stopped) timer = setTimeout(run, options.intervalMs);
      },
    );
  };

  timer = setTimeout(run, options.firstDelayMs);
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      call?.cancel();
      client?.close();
    },
  };
}

/** HealthCheckRequest { string service = 1; } */
function encodeCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  return name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
}

/** HealthCheckResponse { ServingStatus status = 1; } → the status number (0 when absent). */
function decodeServingStatus(b: Buffer): number {
  let status = 0;
  let pos = 0;
  const readVarint = (): number => {
    let value = 0;
    for (let shift = 0; pos < b.length; shift += 7) {
      const byte = b[pos++] as number;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    throw new Error('truncated varint');
  };
  while (pos < b.length) {
    const tag = readVarint();
    const wire = tag & 7;
    if (tag === 0x08) status = readVarint();
    else if (wire === 0) readVarint();
    else if (wire === 1) pos += 8;
    else if (wire === 2) pos += readVarint();
    else if (wire === 5) pos += 4;
    else throw new Error(`unexpected wire type ${wire}`);
  }
  return status;
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n >= 0x80) {
    bytes.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}
