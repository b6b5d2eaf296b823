// SPDX-License-Identifier: Apache-2.0
// The per-call model every layer sees: ProxyCall (the request as it arrived, plus per-call context) and ProxyReply
// (the response as it will go downstream). Layers read and annotate calls; only forward.ts touches the upstream.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { ProxyError } from '../errors.js';
import type { BodySource } from './body-source.js';
import { HeaderEdits, headerBlockOf, type SendableHeaders } from '../h2/headers.js';
import type { RequestBody } from './request-body.js';
import type { CallEnd, CallInfo, ContextKey, Direction, PeerInfo } from '../grpc/call.js';

/** Something to tell when a call is cancelled (an upstream attempt, a waiter). */
export interface CancelTarget {
  handleCancel(reason: ProxyError): void;
}

/**
 * One gRPC call passing through the proxy. Created by the listener for each downstream stream.
 * Not re-entrant: a call belongs to one chain invocation; retries create attempts inside `forward`, not new calls.
 */
export class ProxyCall implements CallInfo {
  readonly direction: Direction;
  /** `:path` as received, e.g. `/user.v1.UserService/GetUser`. */
  readonly path: string;
  /** `:authority` as received (host[:port]). */
  readonly authority: string;
  /**
   * Request headers as received. Read-only: a received block is sealed (h2/headers.ts), so a write throws. Layers
   * change what goes upstream through `editHeaders()`; forward sends the received list with those edits.
   */
  readonly headers: IncomingHttpHeaders;
  readonly body: RequestBody;
  readonly peer: PeerInfo;
  /** performance.now() when the call arrived. */
  readonly startMs: number;
  /** Absolute deadline on the performance.now() clock; Infinity when the call has none. */
  deadlineMs = Infinity;
  /** The logical service this call is routed to (outbound: from `:authority`; inbound: the local service). */
  backend: string | undefined;
  /** `host:port` of the endpoint of the current attempt. */
  endpoint: string | undefined;
  /** How many attempts were made upstream (1 without retries). */
  attempts = 0;
  /** Request and response DATA bytes (gRPC frames included), counted by the data path. */
  requestBytes = 0;
  responseBytes = 0;

  private cancelReason: ProxyError | undefined;
  private cancelTarget: CancelTarget | undefined;
  private moreCancelTargets: CancelTarget[] | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private deadlineError: (() => ProxyError) | undefined;
  private values: Map<ContextKey<unknown>, unknown> | undefined;
  private serviceName: string | undefined;
  private methodName: string | undefined;
  private edits: HeaderEdits | undefined;

  constructor(
    direction: Direction,
    headers: IncomingHttpHeaders,
    body: RequestBody,
    peer: PeerInfo,
    startMs: number,
  ) {
    this.direction = direction;
    this.headers = headers;
    this.path = (headers[':path'] as string | undefined) ?? '';
    this.authority = (headers[':authority'] as string | undefined) ?? (headers.host as string | undefined) ?? '';
    this.body = body;
    this.peer = peer;
    this.startMs = startMs;
  }

  /** The fully qualified gRPC service (`user.v1.UserService`), parsed lazily from the path. */
  get service(): string {
    if (this.serviceName === undefined) this.splitPath();
    return this.serviceName as string;
  }

  /** The gRPC method name (`GetUser`), parsed lazily from the path. */
  get method(): string {
    if (this.methodName === undefined) this.splitPath();
    return this.methodName as string;
  }

  private splitPath(): void {
    const slash = this.path.indexOf('/', 1);
    if (this.path.charCodeAt(0) !== 47 || slash < 0) {
      this.serviceName = '';
      this.methodName = '';
      return;
    }
    this.serviceName = this.path.slice(1, slash);
    this.methodName = this.path.slice(slash + 1);
  }

  /** Where a layer changes the request headers sent upstream (grpc-timeout, the retry count, the trace context). */
  editHeaders(): HeaderEdits {
    return (this.edits ??= new HeaderEdits());
  }

  /** What goes upstream: the request as received (its decoded list, no conversion) with the layers' edits. */
  upstreamHeaders(): SendableHeaders {
    const edits = this.headerEdits;
    return edits === undefined ? this.headers : edits.apply(headerBlockOf(this.headers));
  }

  /** The changes layers made to the request headers, if any (editHeaders). */
  get headerEdits(): HeaderEdits | undefined {
    return this.edits;
  }

  get<T>(key: ContextKey<T>): T | undefined {
    return this.values?.get(key) as T | undefined;
  }

  set<T>(key: ContextKey<T>, value: T): void {
    (this.values ??= new Map()).set(key, value);
  }

  /** Why the call was cancelled, once it was. */
  get cancelled(): ProxyError | undefined {
    return this.cancelReason;
  }

  /**
   * Registers a listener for cancellation (downstream cancel or deadline); it runs at most once. If the call is already
   * cancelled the listener runs synchronously. Returns a function that unregisters it.
   */
  onCancel(listener: (reason: ProxyError) => void): () => void {
    const target: CancelTarget = { handleCancel: listener };
    this.addCancelTarget(target);
    return () => this.removeCancelTarget(target);
  }

  /**
   * The allocation-free form of `onCancel` for hot paths: `target.handleCancel(reason)` runs at most once.
   * Unregister with `removeCancelTarget(target)`.
   */
  addCancelTarget(target: CancelTarget): void {
    if (this.cancelReason !== undefined) {
      target.handleCancel(this.cancelReason);
      return;
    }
    if (this.cancelTarget === undefined) this.cancelTarget = target;
    else (this.moreCancelTargets ??= []).push(target);
  }

  removeCancelTarget(target: CancelTarget): void {
    if (this.cancelTarget === target) {
      this.cancelTarget = undefined;
      return;
    }
    const list = this.moreCancelTargets;
    if (list === undefined) return;
    const i = list.indexOf(target);
    if (i >= 0) list.splice(i, 1);
  }

  /** Cancels the call; the first reason wins. Targets run synchronously, in registration order. */
  cancel(reason: ProxyError): void {
    if (this.cancelReason !== undefined) return;
    this.cancelReason = reason;
    this.clearDeadline();
    const first = this.cancelTarget;
    const more = this.moreCancelTargets;
    this.cancelTarget = undefined;
    this.moreCancelTargets = undefined;
    first?.handleCancel(reason);
    if (more !== undefined) for (const t of more) t.handleCancel(reason);
  }

  /**
   * Moves the deadline earlier (never later) and arms one timer that cancels the call with `makeError()` when it
   * expires. `now` is performance.now().
   */
  tightenDeadline(deadlineMs: number, now: number, makeError: () => ProxyError): void {
    if (deadlineMs >= this.deadlineMs || this.cancelReason !== undefined) return;
    this.deadlineMs = deadlineMs;
    this.deadlineError = makeError;
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    const delay = Math.max(0, deadlineMs - now);
    this.deadlineTimer = setTimeout(this.expire, delay);
  }

  private readonly expire = (): void => {
    this.deadlineTimer = undefined;
    const make = this.deadlineError;
    if (make !== undefined) this.cancel(make());
  };

  /** Stops the deadline timer; called when the call ends. */
  clearDeadline(): void {
    if (this.deadlineTimer !== undefined) {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = undefined;
    }
  }
}

type EndListener = (end: CallEnd) => void;

/**
 * The response of a call, produced by the terminal handler (or by `rescue` for meshlet-made errors) and written
 * downstream by the listener. Headers are not on the wire until the whole chain has returned, which is what makes
 * retrying before response headers possible.
 */
export class ProxyReply {
  /** Response headers including `:status`; for Trailers-Only, they also carry grpc-status. */
  readonly headers: OutgoingHttpHeaders;
  /** True when the headers carry END_STREAM (a Trailers-Only response): no body, no separate trailers. */
  readonly trailersOnly: boolean;
  /** The response DATA to relay; null for Trailers-Only. Flow control: the writer pauses it when downstream is full. */
  readonly body: BodySource | null;
  /** Trailers to send after the body; set by the producer before `end()`. */
  trailers: OutgoingHttpHeaders | undefined;
  private ended: CallEnd | undefined;
  private endListeners: EndListener[] | undefined;

  constructor(headers: OutgoingHttpHeaders, body: BodySource | null) {
    this.headers = headers;
    this.body = body;
    this.trailersOnly = body === null;
  }

  /** How the call ended, once it has. */
  get end(): CallEnd | undefined {
    return this.ended;
  }

  /** Runs `listener` once when the call ends (synchronously if it already has). */
  onEnd(listener: EndListener): void {
    if (this.ended !== undefined) {
      listener(this.ended);
      return;
    }
    (this.endListeners ??= []).push(listener);
  }

  /** Records the final status. The first call wins; later ones are ignored (e.g. a reset racing the trailers). */
  finish(end: CallEnd): void {
    if (this.ended !== undefined) return;
    this.ended = end;
    const list = this.endListeners;
    this.endListeners = undefined;
    if (list !== undefined) for (const l of list) l(end);
  }
}
