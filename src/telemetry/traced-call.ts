// SPDX-License-Identifier: Apache-2.0
// The per-call trace record and the span kinds the tracing layers use, without loading the OpenTelemetry SDK:
// the layers import this, and the SDK (./tracing.ts) is loaded only when tracing is on (src/app/telemetry.ts).

import type { Context, Span, SpanKind } from '@opentelemetry/api';
import type { CallTrace, RemoteParent } from './propagation.js';

/** OpenTelemetry's SpanKind values (stable in the API), as constants that need no import of the API at run time. */
export const SPAN_KIND: { readonly INTERNAL: SpanKind.INTERNAL; readonly SERVER: SpanKind.SERVER; readonly CLIENT: SpanKind.CLIENT } = {
  INTERNAL: 0,
  SERVER: 1,
  CLIENT: 2,
};

/** The per-call trace kept on the call (under `traceKey`), with the OpenTelemetry span when sampled. */
export class TracedCall implements CallTrace {
  spanId: string | undefined;
  /** The SERVER span (inbound) or the INTERNAL call span (outbound); undefined when not sampled. */
  span: Span | undefined;
  /** The context attempt spans are children of (outbound, sampled). */
  spanContext: Context | undefined;
  constructor(
    readonly traceId: string,
    readonly sampled: boolean,
    readonly parent: RemoteParent | undefined,
    readonly injectMask: number,
  ) {}
}
